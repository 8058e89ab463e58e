// Package config reads the ingestor's settings from the environment (names in
// docs/contracts.md) and checks them before anything starts, so a bad
// deployment fails at boot with every problem listed at once rather than on
// the first request.
package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/tlsconf"
)

// DefaultRedisAddr is used when TALLY_REDIS_ADDR is unset. Setting the
// variable to the empty string disables the duplicate hint.
const DefaultRedisAddr = "127.0.0.1:6379"

// Config is everything the ingestor needs to run.
type Config struct {
	HTTPAddr     string   `env:"TALLY_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	KafkaBrokers []string `env:"TALLY_KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	RawTopic     string   `env:"TALLY_RAW_TOPIC" envDefault:"events.raw"`
	// RedisAddr is empty when the duplicate hint is disabled; see Load.
	RedisAddr       string `env:"-"`
	RedisPassword   string `env:"TALLY_REDIS_PASSWORD"`
	NormalizeConfig string `env:"TALLY_NORMALIZE_CONFIG"`
	FaultInjection  bool   `env:"TALLY_FAULT_INJECTION" envDefault:"false"`
	LogLevel        string `env:"TALLY_LOG_LEVEL" envDefault:"info"`

	Kafka  KafkaAuth
	Limits Limits
	// Auth: an API key with the ingest scope on every ingest route
	// (TALLY_AUTH, TALLY_TENANT_SECRET(_FILE), TALLY_CONTROL_TOPIC).
	Auth auth.Settings
	// Rate bounds what each key sends (docs/api.md, "Rate limits and quotas").
	Rate RateLimits

	ProduceTimeout     time.Duration `env:"TALLY_PRODUCE_TIMEOUT" envDefault:"5s"`
	MaxBufferedRecords int           `env:"TALLY_MAX_BUFFERED_RECORDS" envDefault:"200000"`
	// ProducerLinger is how long a partition's batch waits for more records.
	// A request's 202 waits for its batch, so at single-event rates a
	// request's latency is mostly this plus the broker's acknowledgement:
	// 1 ms took 6.7% more single events per second than 2 ms from 64
	// connections, for about 5 µs more Kafka CPU per request
	// (docs/benchmarks/2026-12-03-light-load-generator.md).
	ProducerLinger    time.Duration `env:"TALLY_PRODUCER_LINGER" envDefault:"1ms"`
	RedisTimeout      time.Duration `env:"TALLY_REDIS_TIMEOUT" envDefault:"50ms"`
	ReadHeaderTimeout time.Duration `env:"TALLY_HTTP_READ_HEADER_TIMEOUT" envDefault:"5s"`
	ReadTimeout       time.Duration `env:"TALLY_HTTP_READ_TIMEOUT" envDefault:"30s"`
	WriteTimeout      time.Duration `env:"TALLY_HTTP_WRITE_TIMEOUT" envDefault:"30s"`
	IdleTimeout       time.Duration `env:"TALLY_HTTP_IDLE_TIMEOUT" envDefault:"120s"`
	ShutdownTimeout   time.Duration `env:"TALLY_SHUTDOWN_TIMEOUT" envDefault:"20s"`

	// RedisTLS: TALLY_REDIS_TLS and TALLY_REDIS_TLS_{CA,CERT,KEY}_FILE,
	// TALLY_REDIS_TLS_SERVER_NAME.
	RedisTLS tlsconf.Settings `envPrefix:"TALLY_REDIS_"`
}

// KafkaAuth holds optional SASL and TLS settings for the broker connection.
type KafkaAuth struct {
	// SASLMechanism is empty (no SASL), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	SASLMechanism string `env:"TALLY_KAFKA_SASL_MECHANISM"`
	SASLUser      string `env:"TALLY_KAFKA_SASL_USER"`
	SASLPassword  string `env:"TALLY_KAFKA_SASL_PASSWORD"`
	TLS           bool   `env:"TALLY_KAFKA_TLS" envDefault:"false"`
}

// Limits bound what one request may cost. Each has its own error code so a
// client can tell which one it hit (see package body).
type Limits struct {
	MaxBodyBytes  int64 `env:"TALLY_MAX_BODY_BYTES" envDefault:"8388608"`
	MaxEvents     int   `env:"TALLY_MAX_EVENTS" envDefault:"10000"`
	MaxEventBytes int   `env:"TALLY_MAX_EVENT_BYTES" envDefault:"1048576"`
	MaxDepth      int   `env:"TALLY_MAX_DEPTH" envDefault:"32"`
}

// RateLimits are the defaults for keys that set none.
type RateLimits struct {
	// EventsPerSecond applies to keys without their own rateLimit (0: no
	// limit for them).
	EventsPerSecond float64 `env:"TALLY_RATE_LIMIT_EVENTS_PER_SECOND" envDefault:"10000"`
	// DailyQuota bounds each tenant's events per UTC day (0: none); a key's
	// quotaPerDay, when lower, wins for that key's requests.
	DailyQuota int64 `env:"TALLY_DAILY_QUOTA" envDefault:"0"`
}

// Load reads the configuration from environ (as os.Environ returns it) and
// validates it.
func Load(environ []string) (*Config, error) {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		return nil, fmt.Errorf("read environment: %w", err)
	}
	// caarlos0/env treats "set but empty" like "unset"; the contract says an
	// empty TALLY_REDIS_ADDR disables Redis, so the two must differ here.
	if v, ok := vars["TALLY_REDIS_ADDR"]; ok {
		cfg.RedisAddr = strings.TrimSpace(v)
	} else {
		cfg.RedisAddr = DefaultRedisAddr
	}
	brokers := cfg.KafkaBrokers[:0]
	for _, b := range cfg.KafkaBrokers {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	cfg.KafkaBrokers = brokers
	cfg.Kafka.SASLMechanism = strings.ToUpper(strings.TrimSpace(cfg.Kafka.SASLMechanism))
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Validate reports every problem, joined, or nil.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.HTTPAddr == "" {
		bad("TALLY_HTTP_ADDR must not be empty")
	}
	if len(c.KafkaBrokers) == 0 {
		bad("TALLY_KAFKA_BROKERS must name at least one broker")
	}
	if c.RawTopic == "" {
		bad("TALLY_RAW_TOPIC must not be empty")
	}
	switch c.Kafka.SASLMechanism {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.Kafka.SASLUser == "" || c.Kafka.SASLPassword == "" {
			bad("TALLY_KAFKA_SASL_USER and TALLY_KAFKA_SASL_PASSWORD are required with TALLY_KAFKA_SASL_MECHANISM=%s", c.Kafka.SASLMechanism)
		}
	default:
		bad("TALLY_KAFKA_SASL_MECHANISM %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", c.Kafka.SASLMechanism)
	}
	if err := c.RedisTLS.Validate("TALLY_REDIS"); err != nil {
		errs = append(errs, err)
	}
	l := c.Limits
	if l.MaxBodyBytes <= 0 {
		bad("TALLY_MAX_BODY_BYTES must be positive, got %d", l.MaxBodyBytes)
	}
	if l.MaxEvents <= 0 {
		bad("TALLY_MAX_EVENTS must be positive, got %d", l.MaxEvents)
	}
	if l.MaxEventBytes <= 0 {
		bad("TALLY_MAX_EVENT_BYTES must be positive, got %d", l.MaxEventBytes)
	}
	if l.MaxDepth <= 0 {
		bad("TALLY_MAX_DEPTH must be positive, got %d", l.MaxDepth)
	}
	positive := map[string]time.Duration{
		"TALLY_PRODUCE_TIMEOUT":          c.ProduceTimeout,
		"TALLY_REDIS_TIMEOUT":            c.RedisTimeout,
		"TALLY_HTTP_READ_HEADER_TIMEOUT": c.ReadHeaderTimeout,
		"TALLY_HTTP_READ_TIMEOUT":        c.ReadTimeout,
		"TALLY_HTTP_WRITE_TIMEOUT":       c.WriteTimeout,
		"TALLY_HTTP_IDLE_TIMEOUT":        c.IdleTimeout,
		"TALLY_SHUTDOWN_TIMEOUT":         c.ShutdownTimeout,
	}
	for _, name := range []string{"TALLY_PRODUCE_TIMEOUT", "TALLY_REDIS_TIMEOUT", "TALLY_HTTP_READ_HEADER_TIMEOUT",
		"TALLY_HTTP_READ_TIMEOUT", "TALLY_HTTP_WRITE_TIMEOUT", "TALLY_HTTP_IDLE_TIMEOUT", "TALLY_SHUTDOWN_TIMEOUT"} {
		if positive[name] <= 0 {
			bad("%s must be positive, got %s", name, positive[name])
		}
	}
	// The HTTP write deadline must leave room for the broker's ack, or a slow
	// ack turns into a dropped connection instead of a clean 503.
	if c.WriteTimeout > 0 && c.ProduceTimeout >= c.WriteTimeout {
		bad("TALLY_PRODUCE_TIMEOUT (%s) must be shorter than TALLY_HTTP_WRITE_TIMEOUT (%s)", c.ProduceTimeout, c.WriteTimeout)
	}
	if c.ProducerLinger < 0 {
		bad("TALLY_PRODUCER_LINGER must not be negative, got %s", c.ProducerLinger)
	}
	if c.MaxBufferedRecords <= 0 {
		bad("TALLY_MAX_BUFFERED_RECORDS must be positive, got %d", c.MaxBufferedRecords)
	}
	if err := c.Auth.Validate(true); err != nil {
		errs = append(errs, err)
	}
	if c.Rate.EventsPerSecond < 0 {
		bad("TALLY_RATE_LIMIT_EVENTS_PER_SECOND must not be negative, got %v", c.Rate.EventsPerSecond)
	}
	if c.Rate.DailyQuota < 0 {
		bad("TALLY_DAILY_QUOTA must not be negative, got %d", c.Rate.DailyQuota)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("TALLY_LOG_LEVEL %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return nil
}
