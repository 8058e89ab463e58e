// Package config reads the query API's settings from the environment, using
// the variable names and defaults that docs/contracts.md fixes for every Tally
// service, and checks them before anything is started so a bad deployment
// fails at boot with one clear message instead of at the first request.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/tlsconf"
)

// Config is everything the query API needs to run.
type Config struct {
	HTTPAddr string `env:"TALLY_HTTP_ADDR" envDefault:"127.0.0.1:8081"`

	// ClickHouseAddr lists the servers to read from (on a cluster, the
	// replicas of the shard: a query goes to the first that answers).
	ClickHouseAddr     []string `env:"TALLY_CLICKHOUSE_ADDR" envDefault:"127.0.0.1:9000" envSeparator:","`
	ClickHouseDatabase string   `env:"TALLY_CLICKHOUSE_DATABASE" envDefault:"tally"`
	ClickHouseUser     string   `env:"TALLY_CLICKHOUSE_USER" envDefault:"default"`
	ClickHousePassword string   `env:"TALLY_CLICKHOUSE_PASSWORD"`
	// ClickHouseTLS: TALLY_CLICKHOUSE_TLS and TALLY_CLICKHOUSE_TLS_{CA,CERT,
	// KEY}_FILE, TALLY_CLICKHOUSE_TLS_SERVER_NAME; the address is then the
	// secure native port (tcp_port_secure, 9440 by convention).
	ClickHouseTLS tlsconf.Settings `envPrefix:"TALLY_CLICKHOUSE_"`

	KafkaBrokers []string `env:"TALLY_KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	// Optional Kafka security, read for lag and received counts.
	KafkaTLS           bool   `env:"TALLY_KAFKA_TLS" envDefault:"false"`
	KafkaSASLMechanism string `env:"TALLY_KAFKA_SASL_MECHANISM"`
	KafkaSASLUser      string `env:"TALLY_KAFKA_SASL_USER"`
	KafkaSASLPassword  string `env:"TALLY_KAFKA_SASL_PASSWORD"`
	RawTopic           string `env:"TALLY_RAW_TOPIC" envDefault:"events.raw"`
	DLQTopic           string `env:"TALLY_DLQ_TOPIC" envDefault:"events.dlq"`
	ConsumerGroup      string `env:"TALLY_CONSUMER_GROUP" envDefault:"tally-processor"`

	// QueryTimeout bounds every ClickHouse read, both as a context deadline
	// and as the server-side max_execution_time, so one expensive request
	// cannot hold a connection (or a ClickHouse core) indefinitely.
	QueryTimeout time.Duration `env:"TALLY_QUERY_TIMEOUT" envDefault:"10s"`
	// MaxQueries is how many ClickHouse reads run at once; more requests
	// wait in line within their deadline (a burst is queued, not refused).
	// ClickHouse runs each read on several cores, so a few per core is
	// plenty.
	MaxQueries int `env:"TALLY_CLICKHOUSE_MAX_QUERIES" envDefault:"16"`
	// QueryMirror answers aggregations from a self-certifying in-memory copy
	// of the read model's coarse levels (docs/design/query-mirror.md),
	// refreshed every QueryMirrorInterval; a snapshot older than
	// QueryMirrorMaxAge is not used, and past QueryMirrorMaxRows rows the
	// mirror turns itself off. Whatever it cannot prove current goes to
	// ClickHouse.
	QueryMirror         bool          `env:"TALLY_QUERY_MIRROR" envDefault:"true"`
	QueryMirrorInterval time.Duration `env:"TALLY_QUERY_MIRROR_INTERVAL" envDefault:"200ms"`
	QueryMirrorMaxAge   time.Duration `env:"TALLY_QUERY_MIRROR_MAX_AGE" envDefault:"2s"`
	QueryMirrorMaxRows  int           `env:"TALLY_QUERY_MIRROR_MAX_ROWS" envDefault:"400000"`
	// ShutdownTimeout is how long in-flight requests get to finish on SIGTERM.
	ShutdownTimeout time.Duration `env:"TALLY_SHUTDOWN_TIMEOUT" envDefault:"10s"`

	// Auth: API keys on every data and admin route (TALLY_AUTH,
	// TALLY_CONTROL_TOPIC). The query API neither signs nor verifies
	// tenants, so it needs no TALLY_TENANT_SECRET.
	Auth auth.Settings
	// CORSOrigins are browser origins allowed to call the API directly
	// (none by default: the dashboard proxies through its own origin).
	CORSOrigins []string `env:"TALLY_CORS_ORIGINS" envSeparator:","`
}

// Load reads the configuration from the process environment and validates it.
func Load() (Config, error) {
	return LoadFrom(nil)
}

// LoadFrom is Load with an explicit environment (nil = the process's own),
// so tests never touch global state.
func LoadFrom(environ map[string]string) (Config, error) {
	var cfg Config
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	if err := env.ParseWithOptions(&cfg, opts); err != nil {
		return Config{}, fmt.Errorf("parse environment: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	checkHostPort := func(name, v string) {
		if _, _, err := net.SplitHostPort(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want host:port", name, v))
		}
	}
	checkHostPort("TALLY_HTTP_ADDR", c.HTTPAddr)
	if len(c.ClickHouseAddr) == 0 {
		errs = append(errs, errors.New("TALLY_CLICKHOUSE_ADDR is empty"))
	}
	for _, a := range c.ClickHouseAddr {
		checkHostPort("TALLY_CLICKHOUSE_ADDR", a)
	}
	if !isIdentifier(c.ClickHouseDatabase) {
		// The database name is the one thing interpolated into SQL (ClickHouse
		// cannot bind identifiers), so it must be a plain identifier.
		errs = append(errs, fmt.Errorf("TALLY_CLICKHOUSE_DATABASE=%q: want letters, digits and underscores", c.ClickHouseDatabase))
	}
	if err := c.ClickHouseTLS.Validate("TALLY_CLICKHOUSE"); err != nil {
		errs = append(errs, err)
	}
	if len(c.KafkaBrokers) == 0 {
		errs = append(errs, errors.New("TALLY_KAFKA_BROKERS is empty"))
	}
	for _, b := range c.KafkaBrokers {
		checkHostPort("TALLY_KAFKA_BROKERS", strings.TrimSpace(b))
	}
	for name, v := range map[string]string{
		"TALLY_RAW_TOPIC":      c.RawTopic,
		"TALLY_DLQ_TOPIC":      c.DLQTopic,
		"TALLY_CONSUMER_GROUP": c.ConsumerGroup,
	} {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("%s is empty", name))
		}
	}
	if c.QueryTimeout < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("TALLY_QUERY_TIMEOUT=%s: want at least 100ms", c.QueryTimeout))
	}
	if c.MaxQueries < 1 || c.MaxQueries > 1000 {
		errs = append(errs, fmt.Errorf("TALLY_CLICKHOUSE_MAX_QUERIES=%d: want 1..1000", c.MaxQueries))
	}
	if c.QueryMirrorInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("TALLY_QUERY_MIRROR_INTERVAL=%s: want at least 10ms", c.QueryMirrorInterval))
	}
	if c.QueryMirrorMaxAge <= c.QueryMirrorInterval {
		errs = append(errs, fmt.Errorf("TALLY_QUERY_MIRROR_MAX_AGE=%s: want more than TALLY_QUERY_MIRROR_INTERVAL (%s)", c.QueryMirrorMaxAge, c.QueryMirrorInterval))
	}
	if c.QueryMirrorMaxRows < 1 {
		errs = append(errs, fmt.Errorf("TALLY_QUERY_MIRROR_MAX_ROWS=%d: want at least 1", c.QueryMirrorMaxRows))
	}
	if err := c.Auth.Validate(false); err != nil {
		errs = append(errs, err)
	}
	for _, o := range c.CORSOrigins {
		if u, err := url.Parse(o); o == "*" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			errs = append(errs, fmt.Errorf("TALLY_CORS_ORIGINS: %q is not an origin like https://dash.example.com (no wildcard: requests carry API keys)", o))
		}
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("TALLY_SHUTDOWN_TIMEOUT=%s: want a positive duration", c.ShutdownTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	return nil
}

// isIdentifier reports whether s is a non-empty [A-Za-z_][A-Za-z0-9_]*.
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
