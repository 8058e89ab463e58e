// Package config reads the processor's settings from the environment. Every
// setting has a default that runs against `make up`; Validate reports every
// problem at once so an operator fixes a bad deployment in one go.
package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/kafkaconn"
	"github.com/tally-dev/tally/event/tlsconf"
)

// Config is the processor's whole configuration.
type Config struct {
	HTTPAddr string `env:"TALLY_HTTP_ADDR" envDefault:"127.0.0.1:8082"`
	Instance string `env:"TALLY_INSTANCE" envDefault:"processor"`
	// GroupInstanceID enables Kafka static membership: a member restarted
	// with the same id gets its partitions back at once, without waiting a
	// session timeout. It must be unique per live process (a StatefulSet pod
	// name, say); leave it empty when that cannot be guaranteed.
	GroupInstanceID string `env:"TALLY_GROUP_INSTANCE_ID"`

	Kafka Kafka
	Auth  auth.Settings

	ConsumerGroup string `env:"TALLY_CONSUMER_GROUP" envDefault:"tally-processor"`
	// Partitions is used by `processor migrate` when it creates the topics.
	Partitions int32 `env:"TALLY_PARTITIONS" envDefault:"8"`
	// ReplicationFactor is the number of brokers holding each partition of
	// the topics `processor migrate` creates; see MinInSyncReplicas.
	ReplicationFactor int16 `env:"TALLY_REPLICATION_FACTOR" envDefault:"1"`

	ClickHouse ClickHouse

	RedisAddr     string `env:"TALLY_REDIS_ADDR" envDefault:"127.0.0.1:6379"`
	RedisPassword string `env:"TALLY_REDIS_PASSWORD"`
	// RedisTLS: TALLY_REDIS_TLS and TALLY_REDIS_TLS_{CA,CERT,KEY}_FILE,
	// TALLY_REDIS_TLS_SERVER_NAME.
	RedisTLS tlsconf.Settings `envPrefix:"TALLY_REDIS_"`

	NormalizeConfig string `env:"TALLY_NORMALIZE_CONFIG"`
	FaultInjection  bool   `env:"TALLY_FAULT_INJECTION" envDefault:"false"`

	// BatchSize caps the records handled per poll; BatchLinger is how long a
	// fetch may wait for 1 MiB of records before a smaller batch is
	// processed (fewer, larger inserts; 0 processes whatever is there).
	BatchSize   int           `env:"TALLY_BATCH_SIZE" envDefault:"20000"`
	BatchLinger time.Duration `env:"TALLY_BATCH_LINGER" envDefault:"50ms"`
	// BatchGroups is how many groups of a batch's partitions are planned
	// and written side by side: while one waits for ClickHouse, another
	// classifies. One by default: each group inserts its own, smaller
	// parts, which ClickHouse then merges; on the local stack two groups
	// cost ClickHouse about a third more CPU per event end to end and
	// gained nothing in a drain (docs/benchmarks/2026-12-03-e2e-costs.md).
	BatchGroups int `env:"TALLY_BATCH_GROUPS" envDefault:"1"`
	// BatchTimeout bounds one write attempt; retries continue after it.
	BatchTimeout time.Duration `env:"TALLY_BATCH_TIMEOUT" envDefault:"30s"`
	// HealTimeout bounds one refill of the Redis seen-set from ClickHouse
	// after Redis lost it (about 10 s per million remembered ids of a
	// partition); it is not cut short by BatchTimeout.
	HealTimeout time.Duration `env:"TALLY_HEAL_TIMEOUT" envDefault:"15m"`
	// MaxRecordBytes: records above it cannot be stored and are dead-lettered.
	MaxRecordBytes int `env:"TALLY_MAX_RECORD_BYTES" envDefault:"1048576"`
	// RetryMax bounds the backoff between write attempts.
	RetryInitial time.Duration `env:"TALLY_RETRY_INITIAL" envDefault:"100ms"`
	RetryMax     time.Duration `env:"TALLY_RETRY_MAX" envDefault:"5s"`
	// ShutdownTimeout bounds graceful shutdown (finish batch, commit, leave).
	ShutdownTimeout time.Duration `env:"TALLY_SHUTDOWN_TIMEOUT" envDefault:"30s"`

	// Failpoint names a crash point for the fault-tolerance suite (only
	// honoured with FaultInjection): after-insert, mid-insert, after-mark.
	Failpoint string `env:"TALLY_FAILPOINT"`
	// NegativeControl deliberately breaks an invariant so the chaos suite can
	// prove it notices: mark-before-write, ack-before-write or no-dedup. Never set in production.
	NegativeControl string `env:"TALLY_NEGATIVE_CONTROL"`
}

// Kafka holds broker settings shared by every Kafka client of the processor.
type Kafka struct {
	Brokers       []string `env:"TALLY_KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	RawTopic      string   `env:"TALLY_RAW_TOPIC" envDefault:"events.raw"`
	DLQTopic      string   `env:"TALLY_DLQ_TOPIC" envDefault:"events.dlq"`
	SASLMechanism string   `env:"TALLY_KAFKA_SASL_MECHANISM"`
	SASLUser      string   `env:"TALLY_KAFKA_SASL_USER"`
	SASLPassword  string   `env:"TALLY_KAFKA_SASL_PASSWORD"`
	TLS           bool     `env:"TALLY_KAFKA_TLS" envDefault:"false"`
}

// Settings returns the connection part of k.
func (k Kafka) Settings() kafkaconn.Settings {
	return kafkaconn.Settings{Brokers: k.Brokers, TLS: k.TLS, SASLMechanism: k.SASLMechanism,
		SASLUser: k.SASLUser, SASLPassword: k.SASLPassword}
}

// ClickHouse holds the native-protocol connection settings.
type ClickHouse struct {
	Addr     []string `env:"TALLY_CLICKHOUSE_ADDR" envDefault:"127.0.0.1:9000" envSeparator:","`
	Database string   `env:"TALLY_CLICKHOUSE_DATABASE" envDefault:"tally"`
	User     string   `env:"TALLY_CLICKHOUSE_USER" envDefault:"default"`
	Password string   `env:"TALLY_CLICKHOUSE_PASSWORD"`
	// Cluster, when set, makes migrate create replicated tables ON CLUSTER
	// and the processor write with an insert quorum.
	Cluster string `env:"TALLY_CLICKHOUSE_CLUSTER"`
	// InsertQuorum is how many replicas must hold a write before it counts
	// (cluster only); 0 means a majority of the shard's replicas.
	InsertQuorum int `env:"TALLY_CLICKHOUSE_INSERT_QUORUM" envDefault:"0"`
	// InsertQuorumTimeout bounds the wait for the quorum.
	InsertQuorumTimeout time.Duration `env:"TALLY_CLICKHOUSE_INSERT_QUORUM_TIMEOUT" envDefault:"30s"`
	// TLS: TALLY_CLICKHOUSE_TLS and TALLY_CLICKHOUSE_TLS_{CA,CERT,KEY}_FILE,
	// TALLY_CLICKHOUSE_TLS_SERVER_NAME. The address is then the server's
	// secure native port (tcp_port_secure, 9440 by convention).
	TLS tlsconf.Settings `envPrefix:"TALLY_CLICKHOUSE_"`
}

// MinInSyncReplicas is the topics' min.insync.replicas: a majority of the
// replicas (1 of 1, 2 of 2 or 3, 3 of 5). With acks=all a write is then
// acknowledged only once a majority holds it, so losing a minority of
// brokers loses no acknowledged record.
func (c Config) MinInSyncReplicas() int16 { return c.ReplicationFactor/2 + 1 }

// Load parses the environment and validates the result.
func Load() (Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return c, fmt.Errorf("parse environment: %w", err)
	}
	return c, c.Validate()
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(len(c.Kafka.Brokers) > 0 && c.Kafka.Brokers[0] != "", "TALLY_KAFKA_BROKERS: at least one broker is required")
	check(c.Kafka.RawTopic != "", "TALLY_RAW_TOPIC must not be empty")
	check(c.Kafka.DLQTopic != "", "TALLY_DLQ_TOPIC must not be empty")
	check(c.Kafka.RawTopic != c.Kafka.DLQTopic, "TALLY_RAW_TOPIC and TALLY_DLQ_TOPIC must differ")
	check(c.ConsumerGroup != "", "TALLY_CONSUMER_GROUP must not be empty")
	check(c.Partitions > 0, "TALLY_PARTITIONS must be positive, got %d", c.Partitions)
	check(c.ReplicationFactor > 0, "TALLY_REPLICATION_FACTOR must be positive, got %d", c.ReplicationFactor)
	check(len(c.ClickHouse.Addr) > 0 && c.ClickHouse.Addr[0] != "", "TALLY_CLICKHOUSE_ADDR is required")
	check(validIdent(c.ClickHouse.Database), "TALLY_CLICKHOUSE_DATABASE %q: use letters, digits and underscores", c.ClickHouse.Database)
	if err := c.ClickHouse.TLS.Validate("TALLY_CLICKHOUSE"); err != nil {
		errs = append(errs, err)
	}
	if err := c.RedisTLS.Validate("TALLY_REDIS"); err != nil {
		errs = append(errs, err)
	}
	check(c.BatchSize > 0 && c.BatchSize <= 1_000_000, "TALLY_BATCH_SIZE must be in 1..1000000, got %d", c.BatchSize)
	check(c.BatchLinger >= 0, "TALLY_BATCH_LINGER must not be negative")
	check(c.BatchGroups >= 1 && c.BatchGroups <= 64, "TALLY_BATCH_GROUPS must be in 1..64, got %d", c.BatchGroups)
	check(c.BatchTimeout > 0, "TALLY_BATCH_TIMEOUT must be positive")
	check(c.HealTimeout > 0, "TALLY_HEAL_TIMEOUT must be positive")
	check(c.MaxRecordBytes > 0, "TALLY_MAX_RECORD_BYTES must be positive")
	check(c.RetryInitial > 0 && c.RetryMax >= c.RetryInitial, "TALLY_RETRY_INITIAL must be positive and at most TALLY_RETRY_MAX")
	switch c.Failpoint {
	case "", "after-insert", "mid-insert", "after-mark":
	default:
		errs = append(errs, fmt.Errorf("TALLY_FAILPOINT %q: want after-insert, mid-insert or after-mark", c.Failpoint))
	}
	check(c.Failpoint == "" || c.FaultInjection, "TALLY_FAILPOINT needs TALLY_FAULT_INJECTION=true")
	switch c.NegativeControl {
	case "", "mark-before-write", "ack-before-write", "no-dedup":
	default:
		errs = append(errs, fmt.Errorf("TALLY_NEGATIVE_CONTROL %q: want mark-before-write, ack-before-write or no-dedup", c.NegativeControl))
	}
	check(c.NegativeControl == "" || c.FaultInjection, "TALLY_NEGATIVE_CONTROL needs TALLY_FAULT_INJECTION=true")
	if err := c.Auth.Validate(true); err != nil {
		errs = append(errs, err)
	}
	switch c.Kafka.SASLMechanism {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		errs = append(errs, fmt.Errorf("TALLY_KAFKA_SASL_MECHANISM %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.Kafka.SASLMechanism))
	}
	return errors.Join(errs...)
}

func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
