package localstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Topology is the shape of the stack: which infrastructure nodes run.
type Topology string

const (
	// Single is one Kafka broker, one ClickHouse server and Redis: the
	// everyday `make up` stack.
	Single Topology = "single"
	// Cluster is three KRaft Kafka brokers (replication factor 3,
	// min.insync.replicas 2), ZooKeeper, two ClickHouse servers as two
	// replicas of one shard, and Redis: `TOPOLOGY=cluster make up`.
	Cluster Topology = "cluster"
)

// Broker selects the Kafka implementation of a single-node stack.
type Broker string

const (
	// RealKafka runs Apache Kafka's JVM broker in KRaft mode.
	RealKafka Broker = "kafka"
	// EmbeddedKafka runs franz-go's kfake (processor/cmd/devbroker) for
	// machines without Java; it keeps records in memory only.
	EmbeddedKafka Broker = "embedded"
)

// Host is the only address the stack listens on: every node is on loopback,
// told apart by its ports.
const Host = "127.0.0.1"

// nodeStride separates the ports of the nodes of one kind: kafka-2 listens
// 100 above kafka-1, processor-3 200 above processor-1.
const nodeStride = 100

// Ports are the ports of the first node of each kind; further nodes of a
// kind add nodeStride per node.
type Ports struct {
	Redis                 int `json:"redis"`
	ZooKeeper             int `json:"zookeeper"`
	Kafka                 int `json:"kafka"`
	KafkaController       int `json:"kafkaController"`
	ClickHouse            int `json:"clickhouse"`
	ClickHouseHTTP        int `json:"clickhouseHTTP"`
	ClickHouseInterserver int `json:"clickhouseInterserver"`
	Ingestor              int `json:"ingestor"`
	QueryAPI              int `json:"queryapi"`
	Processor             int `json:"processor"`
	Dashboard             int `json:"dashboard"`
}

// DefaultPorts is the port layout shifted by base, so a test stack on
// base 20000 never collides with `make up` on base 0.
func DefaultPorts(base int) Ports {
	return Ports{
		Redis:                 6379 + base,
		ZooKeeper:             2181 + base,
		Kafka:                 9092 + base,
		KafkaController:       9093 + base,
		ClickHouse:            9000 + base,
		ClickHouseHTTP:        8123 + base,
		ClickHouseInterserver: 9009 + base,
		Ingestor:              8080 + base,
		QueryAPI:              8081 + base,
		Processor:             8082 + base,
		Dashboard:             3000 + base,
	}
}

// Config describes one stack. It is plain data: FromEnv reads it from the
// environment the way scripts/stack.sh always has, Up records it in
// <Dir>/stack.json, and LoadConfig reads that record back so the chaos suite
// and the benchmark drive exactly the stack that is running.
type Config struct {
	// Root is the repository: binaries are built from it and the Maven
	// descriptors under scripts/ are read from it.
	Root string `json:"root"`
	// Dir holds all state: run/<node>.pid, log/<node>.log, data/<node>/,
	// conf/<node>/, bin/.
	Dir string `json:"dir"`
	// CacheDir keeps downloaded Kafka and ZooKeeper jars across stacks.
	CacheDir string   `json:"cacheDir"`
	Topology Topology `json:"topology"`
	Broker   Broker   `json:"broker"`
	PortBase int      `json:"portBase"`
	Ports    Ports    `json:"ports"`
	// Processors is how many processor-N nodes Up starts.
	Processors int `json:"processors"`
	// Partitions is the partition count of the topics migrate creates.
	Partitions     int  `json:"partitions"`
	Dashboard      bool `json:"dashboard"`
	FaultInjection bool `json:"faultInjection"`
	// Auth is TALLY_AUTH for the services: "enabled" (default) or
	// "disabled" (tests that want an open stack).
	Auth string `json:"auth"`

	KafkaVersion     string `json:"kafkaVersion"`
	ZooKeeperVersion string `json:"zookeeperVersion"`
	// ClickHouseCluster names the cluster in remote_servers (Cluster only).
	ClickHouseCluster string `json:"clickhouseCluster"`
	// ClickHouseShards and ClickHouseReplicas shape a Cluster stack's
	// ClickHouse: shards × replicas servers (default 1 × 2). With more
	// than one shard the data is placed by partition (docs/scaling.md).
	ClickHouseShards   int `json:"clickhouseShards"`
	ClickHouseReplicas int `json:"clickhouseReplicas"`
	// ClickHouseLogQueries makes every ClickHouse server record each query
	// in system.query_log (log_queries in the default profile), so a test
	// run can read back the exact SQL the services sent: the compatibility
	// check (scripts/clickhouse-compat.sh) replays it on current ClickHouse.
	// Off by default: the log costs writes a benchmark should not pay.
	ClickHouseLogQueries bool   `json:"clickhouseLogQueries"`
	Database             string `json:"database"`
	RawTopic             string `json:"rawTopic"`
	DLQTopic             string `json:"dlqTopic"`
	ConsumerGroup        string `json:"consumerGroup"`

	// Chromium makes Install also install Chromium (browser e2e tests).
	Chromium bool `json:"-"`
	// Env is the environment every process inherits before the stack's own
	// settings; nil means this process's environment, as with os/exec.
	Env []string `json:"-"`
	// Log receives progress lines; nil discards them.
	Log io.Writer `json:"-"`
}

// Defaults for the knobs FromEnv reads.
const (
	DefaultKafkaVersion     = "4.3.1"
	DefaultZooKeeperVersion = "3.9.5"
	DefaultCluster          = "tally"
)

// FromEnv builds a Config from the same environment variables
// scripts/stack.sh has always read: STACK_DIR, TALLY_CACHE_DIR, TOPOLOGY,
// BROKER, PROCESSORS, PARTITIONS, WITH_DASHBOARD, TALLY_FAULT_INJECTION,
// WITH_CHROMIUM, CH_LOG_QUERIES, CLICKHOUSE_SHARDS, CLICKHOUSE_REPLICAS,
// PORT_BASE and one override per port
// (KAFKA_PORT, …).
// When TOPOLOGY is unset, the topology recorded in STACK_DIR/stack.json is
// kept, so `make status` and `make down` act on a cluster stack without
// repeating TOPOLOGY=cluster; a new directory gets Single.
func FromEnv(root string, getenv func(string) string) (Config, error) {
	var errs []error
	str := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	num := func(key string, def int) int {
		v := getenv(key)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: not an integer", key, v))
			return def
		}
		return n
	}
	flag := func(key string, def bool) bool {
		switch strings.ToLower(getenv(key)) {
		case "":
			return def
		case "1", "true", "yes":
			return true
		case "0", "false", "no":
			return false
		default:
			errs = append(errs, fmt.Errorf("%s=%q: want 1/true or 0/false", key, getenv(key)))
			return def
		}
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("path %q: %w", p, err))
			return p
		}
		return a
	}

	c := Config{Root: abs(root)}
	c.Dir = abs(str("STACK_DIR", filepath.Join(c.Root, ".stack")))
	c.CacheDir = abs(str("TALLY_CACHE_DIR", filepath.Join(c.Root, ".cache")))
	c.Topology = Topology(getenv("TOPOLOGY"))
	if c.Topology == "" {
		c.Topology = Single
		if rec, err := LoadConfig(c.Dir); err == nil {
			c.Topology = rec.Topology
		}
	}
	c.Broker = Broker(str("BROKER", string(RealKafka)))
	defProcessors := 1
	if c.Topology == Cluster {
		defProcessors = 3
	}
	c.Processors = num("PROCESSORS", defProcessors)
	c.Partitions = num("PARTITIONS", 8)
	c.Dashboard = flag("WITH_DASHBOARD", true)
	c.FaultInjection = flag("TALLY_FAULT_INJECTION", true)
	c.Auth = str("TALLY_AUTH", "enabled")
	c.Chromium = flag("WITH_CHROMIUM", false)
	c.ClickHouseLogQueries = flag("CH_LOG_QUERIES", false)
	c.PortBase = num("PORT_BASE", 0)
	p := DefaultPorts(c.PortBase)
	c.Ports = Ports{
		Redis:                 num("REDIS_PORT", p.Redis),
		ZooKeeper:             num("ZOOKEEPER_PORT", p.ZooKeeper),
		Kafka:                 num("KAFKA_PORT", p.Kafka),
		KafkaController:       num("KAFKA_CONTROLLER_PORT", p.KafkaController),
		ClickHouse:            num("CH_PORT", p.ClickHouse),
		ClickHouseHTTP:        num("CH_HTTP_PORT", p.ClickHouseHTTP),
		ClickHouseInterserver: num("CH_INTERSERVER_PORT", p.ClickHouseInterserver),
		Ingestor:              num("INGESTOR_PORT", p.Ingestor),
		QueryAPI:              num("QUERYAPI_PORT", p.QueryAPI),
		Processor:             num("PROCESSOR_PORT", p.Processor),
		Dashboard:             num("DASHBOARD_PORT", p.Dashboard),
	}
	c.KafkaVersion = str("KAFKA_VERSION", DefaultKafkaVersion)
	c.ZooKeeperVersion = str("ZOOKEEPER_VERSION", DefaultZooKeeperVersion)
	c.ClickHouseCluster = str("TALLY_CLICKHOUSE_CLUSTER", DefaultCluster)
	c.ClickHouseShards = num("CLICKHOUSE_SHARDS", 1)
	c.ClickHouseReplicas = num("CLICKHOUSE_REPLICAS", 2)
	c.Database = str("TALLY_CLICKHOUSE_DATABASE", "tally")
	c.RawTopic = str("TALLY_RAW_TOPIC", "events.raw")
	c.DLQTopic = str("TALLY_DLQ_TOPIC", "events.dlq")
	c.ConsumerGroup = str("TALLY_CONSUMER_GROUP", "tally-processor")
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	return c, c.Validate()
}

// Validate reports every invalid setting at once, including ports that
// collide between nodes or fall outside 1..65535.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(filepath.IsAbs(c.Root), "root %q must be an absolute path", c.Root)
	check(filepath.IsAbs(c.Dir), "STACK_DIR %q must be an absolute path", c.Dir)
	check(filepath.IsAbs(c.CacheDir), "TALLY_CACHE_DIR %q must be an absolute path", c.CacheDir)
	check(c.Topology == Single || c.Topology == Cluster, "TOPOLOGY %q: want single or cluster", c.Topology)
	check(c.Broker == RealKafka || c.Broker == EmbeddedKafka, "BROKER %q: want kafka or embedded", c.Broker)
	check(c.Topology != Cluster || c.Broker == RealKafka, "TOPOLOGY=cluster needs BROKER=kafka: the embedded broker cannot replicate")
	check(c.Processors >= 1 && c.Processors <= 20, "PROCESSORS must be in 1..20, got %d", c.Processors)
	check(c.Partitions >= 1, "PARTITIONS must be positive, got %d", c.Partitions)
	check(c.KafkaVersion != "", "KAFKA_VERSION must not be empty")
	check(c.ZooKeeperVersion != "", "ZOOKEEPER_VERSION must not be empty")
	shards, replicas := c.clickhouseShape()
	check(c.ClickHouseShards >= 0 && c.ClickHouseReplicas >= 0 && shards*replicas <= 8,
		"CLICKHOUSE_SHARDS × CLICKHOUSE_REPLICAS must be 1..8 servers, got %d × %d", c.ClickHouseShards, c.ClickHouseReplicas)
	check(c.Topology == Cluster || shards == 1 && replicas == 2,
		"CLICKHOUSE_SHARDS and CLICKHOUSE_REPLICAS shape a cluster's ClickHouse: set TOPOLOGY=cluster")
	check(shards == 1 || c.Partitions%shards == 0,
		"PARTITIONS=%d must be a multiple of CLICKHOUSE_SHARDS=%d: partition p is placed on shard p mod shards", c.Partitions, shards)
	check(identifier(c.ClickHouseCluster), "TALLY_CLICKHOUSE_CLUSTER %q: use letters, digits and underscores", c.ClickHouseCluster)
	check(identifier(c.Database), "TALLY_CLICKHOUSE_DATABASE %q: use letters, digits and underscores", c.Database)
	check(c.RawTopic != "" && c.DLQTopic != "" && c.RawTopic != c.DLQTopic, "TALLY_RAW_TOPIC and TALLY_DLQ_TOPIC must be set and differ")
	check(c.ConsumerGroup != "", "TALLY_CONSUMER_GROUP must not be empty")
	if c.Topology == Single || c.Topology == Cluster {
		used := map[int]string{}
		for _, n := range c.Nodes() {
			for _, role := range n.Roles() {
				port, who := n.Ports[role], n.Name+" "+role
				check(port > 0 && port < 65536, "%s port %d is outside 1..65535 (PORT_BASE %d)", who, port, c.PortBase)
				if other, dup := used[port]; dup {
					errs = append(errs, fmt.Errorf("%s port %d collides with %s", who, port, other))
				}
				used[port] = who
			}
		}
	}
	return errors.Join(errs...)
}

func identifier(s string) bool {
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

// recordFile is where Up records the configuration it ran with.
const recordFile = "stack.json"

// LoadConfig reads the configuration recorded by the last Up in dir. Env
// and Log are not recorded; set them before New if the defaults do not fit.
func LoadConfig(dir string) (Config, error) {
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return Config{}, fmt.Errorf("read stack record: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("parse %s: %w", filepath.Join(dir, recordFile), err)
	}
	return c, nil
}

func (c Config) save() error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(c.Dir, recordFile), append(b, '\n'))
}

// writeFileAtomic replaces path so a reader never sees half a file.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// FindRoot is the repository holding dir: the nearest directory at or above
// it that holds go.work.
func FindRoot(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (no go.work above " + dir + ")")
		}
		dir = parent
	}
}
