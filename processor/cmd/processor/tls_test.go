package main

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/tally-dev/tally/event/tlsconf"
	"github.com/tally-dev/tally/processor/internal/config"
	"github.com/tally-dev/tally/processor/internal/eventstore"
)

// The TLS settings reach every Redis and ClickHouse client the processor
// opens (event/tlsconf's integration test connects to real servers).
func TestTLSWiring(t *testing.T) {
	var cfg config.Config
	cfg.RedisAddr = "redis:6379"
	ropts, err := redisOptions(cfg)
	if err != nil || ropts.TLSConfig != nil {
		t.Fatalf("TLS off: %v, %v", ropts.TLSConfig, err)
	}
	cfg.RedisTLS = tlsconf.Settings{Enabled: true, ServerName: "redis.internal"}
	ropts, err = redisOptions(cfg)
	if err != nil || ropts.TLSConfig == nil || ropts.TLSConfig.ServerName != "redis.internal" || ropts.TLSConfig.MinVersion != tls.VersionTLS12 {
		t.Fatalf("TLS on: %+v, %v", ropts.TLSConfig, err)
	}

	cfg.ClickHouse.TLS = tlsconf.Settings{Enabled: true, CAFile: "/nonexistent/ca.crt"}
	if got := storeOptions(cfg).TLS; got != cfg.ClickHouse.TLS {
		t.Fatalf("store TLS %+v, want %+v", got, cfg.ClickHouse.TLS)
	}
	if _, err := eventstore.Open(storeOptions(cfg)); err == nil || !strings.Contains(err.Error(), "clickhouse tls: read CA file") {
		t.Fatalf("open with a missing CA file: %v", err)
	}
}
