package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cleanEnv removes every TALLY_ variable for the test, so the outcome does
// not depend on the shell (the integration tier exports the stack's).
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "TALLY_") {
			t.Setenv(k, "")
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestDefaultsAreValid(t *testing.T) {
	cleanEnv(t)
	// Authentication is on by default, and then the shared tenant secret
	// is the one setting without a default.
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "TALLY_TENANT_SECRET") {
		t.Fatalf("defaults without a tenant secret: %v", err)
	}
	t.Setenv("TALLY_TENANT_SECRET", "0123456789abcdef")
	c, err := Load()
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if !c.Auth.Enabled() || c.Auth.ControlTopic != "tally.control" {
		t.Fatalf("auth defaults: %+v", c.Auth)
	}
	// The secret may come from a mounted file instead.
	cleanEnv(t)
	file := filepath.Join(t.TempDir(), "tenant.secret")
	if err := os.WriteFile(file, []byte("fedcba9876543210fedcba\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TALLY_TENANT_SECRET_FILE", file)
	if fc, err := Load(); err != nil || string(fc.Auth.Secret()) != "fedcba9876543210fedcba" {
		t.Fatalf("secret from a file: %q %v", fc.Auth.Secret(), err)
	}
	cleanEnv(t)
	t.Setenv("TALLY_AUTH", "disabled")
	if _, err := Load(); err != nil {
		t.Fatalf("auth disabled needs no secret: %v", err)
	}
	if c.Kafka.RawTopic != "events.raw" || c.ClickHouse.Database != "tally" || c.HTTPAddr != "127.0.0.1:8082" || c.ReplicationFactor != 1 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cleanEnv(t)
	t.Setenv("TALLY_BATCH_SIZE", "0")
	t.Setenv("TALLY_CLICKHOUSE_DATABASE", "tally; DROP")
	t.Setenv("TALLY_DLQ_TOPIC", "events.raw")
	t.Setenv("TALLY_FAILPOINT", "after-insert")
	t.Setenv("TALLY_REPLICATION_FACTOR", "0")
	_, err := Load()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"TALLY_BATCH_SIZE", "TALLY_CLICKHOUSE_DATABASE", "must differ", "TALLY_FAILPOINT needs", "TALLY_REPLICATION_FACTOR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// min.insync.replicas is a majority of the replicas, so acks=all survives
// the loss of a minority of brokers and never acks a minority copy.
func TestMinInSyncReplicasIsAMajority(t *testing.T) {
	for rf, want := range map[int16]int16{1: 1, 2: 2, 3: 2, 4: 3, 5: 3} {
		if got := (Config{ReplicationFactor: rf}).MinInSyncReplicas(); got != want {
			t.Errorf("replication factor %d: min.insync.replicas %d, want %d", rf, got, want)
		}
	}
}

// TLS to Redis and ClickHouse is read from TALLY_REDIS_TLS_* and
// TALLY_CLICKHOUSE_TLS_*, and an unreadable file stops the processor at
// startup with the variable's name.
func TestTLSSettings(t *testing.T) {
	cleanEnv(t)
	t.Setenv("TALLY_AUTH", "disabled")
	ca := filepath.Join(t.TempDir(), "ca.crt")
	t.Setenv("TALLY_REDIS_TLS", "true")
	t.Setenv("TALLY_REDIS_TLS_SERVER_NAME", "redis.internal")
	t.Setenv("TALLY_CLICKHOUSE_TLS", "true")
	t.Setenv("TALLY_CLICKHOUSE_TLS_CA_FILE", ca)
	t.Setenv("TALLY_CLICKHOUSE_TLS_CERT_FILE", "/nonexistent/tls.crt")
	_, err := Load()
	if err == nil {
		t.Fatal("missing TLS files accepted")
	}
	for _, want := range []string{"TALLY_CLICKHOUSE_TLS_CA_FILE", "no such file", "TALLY_CLICKHOUSE_TLS_CERT_FILE and TALLY_CLICKHOUSE_TLS_KEY_FILE go together"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	t.Setenv("TALLY_CLICKHOUSE_TLS", "false")
	t.Setenv("TALLY_CLICKHOUSE_TLS_CA_FILE", "")
	t.Setenv("TALLY_CLICKHOUSE_TLS_CERT_FILE", "")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if !c.RedisTLS.Enabled || c.RedisTLS.ServerName != "redis.internal" || c.ClickHouse.TLS.Enabled {
		t.Fatalf("TLS settings: redis %+v, clickhouse %+v", c.RedisTLS, c.ClickHouse.TLS)
	}
}
