package config

import (
	"strings"
	"testing"
)

// TLS to Redis comes from TALLY_REDIS_TLS_*; a bad file stops the ingestor
// at startup, naming the variable.
func TestRedisTLS(t *testing.T) {
	cfg, err := Load([]string{"TALLY_AUTH=disabled", "TALLY_REDIS_TLS=true", "TALLY_REDIS_TLS_SERVER_NAME=redis.internal"})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.RedisTLS.Enabled || cfg.RedisTLS.ServerName != "redis.internal" {
		t.Fatalf("TLS settings not read: %+v", cfg.RedisTLS)
	}
	_, err = Load([]string{"TALLY_AUTH=disabled", "TALLY_REDIS_TLS=true", "TALLY_REDIS_TLS_CA_FILE=/nonexistent/ca.crt", "TALLY_REDIS_TLS_KEY_FILE=/k"})
	for _, want := range []string{"TALLY_REDIS_TLS_CA_FILE: read CA file", "TALLY_REDIS_TLS_CERT_FILE and TALLY_REDIS_TLS_KEY_FILE go together"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want mention of %q", err, want)
		}
	}
	if _, err := Load([]string{"TALLY_AUTH=disabled", "TALLY_REDIS_TLS_CA_FILE=/etc/ssl/ca.crt"}); err == nil || !strings.Contains(err.Error(), "TALLY_REDIS_TLS is not true") {
		t.Errorf("a CA file without TLS: err = %v", err)
	}
}
