package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadDefaults(t *testing.T) {
	cfg, err := LoadFrom(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:8081" || cfg.ClickHouseDatabase != "tally" || cfg.ClickHouseUser != "default" ||
		cfg.RawTopic != "events.raw" || cfg.DLQTopic != "events.dlq" || cfg.ConsumerGroup != "tally-processor" ||
		len(cfg.KafkaBrokers) != 1 || cfg.KafkaBrokers[0] != "127.0.0.1:9092" || cfg.QueryTimeout != 10*time.Second ||
		!cfg.Auth.Enabled() || len(cfg.CORSOrigins) != 0 {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
}

func TestLoadOverrides(t *testing.T) {
	cfg, err := LoadFrom(map[string]string{
		"TALLY_HTTP_ADDR":           ":9999",
		"TALLY_KAFKA_BROKERS":       "a:1,b:2",
		"TALLY_CLICKHOUSE_DATABASE": "tally_test_1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":9999" || len(cfg.KafkaBrokers) != 2 || cfg.ClickHouseDatabase != "tally_test_1" {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	cfg, err = LoadFrom(map[string]string{"TALLY_CORS_ORIGINS": "https://dash.example.com,http://localhost:5173", "TALLY_AUTH": "disabled"})
	if err != nil || len(cfg.CORSOrigins) != 2 || cfg.Auth.Enabled() || cfg.Auth.ControlTopic != "tally.control" {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"bad http addr", "TALLY_HTTP_ADDR", "nonsense", "TALLY_HTTP_ADDR"},
		{"sql in database", "TALLY_CLICKHOUSE_DATABASE", "tally; DROP TABLE x", "TALLY_CLICKHOUSE_DATABASE"},
		{"leading digit database", "TALLY_CLICKHOUSE_DATABASE", "1tally", "TALLY_CLICKHOUSE_DATABASE"},
		{"empty group", "TALLY_CONSUMER_GROUP", " ", "TALLY_CONSUMER_GROUP"},
		{"bad broker", "TALLY_KAFKA_BROKERS", "nohost", "TALLY_KAFKA_BROKERS"},
		{"tiny timeout", "TALLY_QUERY_TIMEOUT", "1ms", "TALLY_QUERY_TIMEOUT"},
		{"unparsable timeout", "TALLY_QUERY_TIMEOUT", "soon", "QueryTimeout"},
		{"unknown auth mode", "TALLY_AUTH", "sometimes", "TALLY_AUTH"},
		{"wildcard origin", "TALLY_CORS_ORIGINS", "*", "TALLY_CORS_ORIGINS"},
		{"origin with a path", "TALLY_CORS_ORIGINS", "https://dash.example.com/app", "TALLY_CORS_ORIGINS"},
		{"origin without scheme", "TALLY_CORS_ORIGINS", "dash.example.com", "TALLY_CORS_ORIGINS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFrom(map[string]string{tt.key: tt.value})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %s", err, tt.want)
			}
		})
	}
}

// TLS to ClickHouse comes from TALLY_CLICKHOUSE_TLS_*; a bad file stops the
// query API at startup, naming the variable.
func TestClickHouseTLS(t *testing.T) {
	cfg, err := LoadFrom(map[string]string{"TALLY_CLICKHOUSE_TLS": "true", "TALLY_CLICKHOUSE_TLS_SERVER_NAME": "ch.internal",
		"TALLY_CLICKHOUSE_ADDR": "ch-0:9440,ch-1:9440"})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ClickHouseTLS.Enabled || cfg.ClickHouseTLS.ServerName != "ch.internal" || len(cfg.ClickHouseAddr) != 2 {
		t.Fatalf("TLS settings not read: %+v", cfg)
	}
	for env, want := range map[string]string{
		"TALLY_CLICKHOUSE_TLS_CA_FILE":   "TALLY_CLICKHOUSE_TLS_CA_FILE: read CA file",
		"TALLY_CLICKHOUSE_TLS_CERT_FILE": "TALLY_CLICKHOUSE_TLS_CERT_FILE and TALLY_CLICKHOUSE_TLS_KEY_FILE go together",
	} {
		_, err := LoadFrom(map[string]string{"TALLY_CLICKHOUSE_TLS": "true", env: "/nonexistent/file"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want mention of %q", env, err, want)
		}
	}
	if _, err := LoadFrom(map[string]string{"TALLY_CLICKHOUSE_TLS_CA_FILE": "/etc/ssl/ca.crt"}); err == nil ||
		!strings.Contains(err.Error(), "TALLY_CLICKHOUSE_TLS is not true") {
		t.Errorf("a CA file without TLS: err = %v", err)
	}
}
