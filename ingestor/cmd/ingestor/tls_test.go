package main

import (
	"crypto/tls"
	"testing"

	"github.com/tally-dev/tally/ingestor/internal/config"
)

// The TLS settings reach the ingestor's Redis client, shared by the
// duplicate hint and the rate limiter (event/tlsconf's integration test
// connects to a real server).
func TestRedisOptionsCarryTLS(t *testing.T) {
	cfg, err := config.Load([]string{"TALLY_AUTH=disabled"})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := redisOptions(cfg)
	if err != nil || opts.TLSConfig != nil || opts.Addr != config.DefaultRedisAddr {
		t.Fatalf("TLS off: %+v, %v", opts, err)
	}
	cfg, err = config.Load([]string{"TALLY_AUTH=disabled", "TALLY_REDIS_TLS=true", "TALLY_REDIS_TLS_SERVER_NAME=redis.internal"})
	if err != nil {
		t.Fatal(err)
	}
	opts, err = redisOptions(cfg)
	if err != nil || opts.TLSConfig == nil || opts.TLSConfig.ServerName != "redis.internal" || opts.TLSConfig.MinVersion != tls.VersionTLS12 {
		t.Fatalf("TLS on: %+v, %v", opts.TLSConfig, err)
	}
}
