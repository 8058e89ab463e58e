package localstack

import (
	"path/filepath"
	"strings"
	"testing"
)

// env is a fake environment for FromEnv.
func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestFromEnvDefaults(t *testing.T) {
	c, err := FromEnv("/repo", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Root: "/repo", Dir: "/repo/.stack", CacheDir: "/repo/.cache", Topology: Single, Broker: RealKafka,
		Ports: DefaultPorts(0), Processors: 1, Partitions: 8, Dashboard: true, FaultInjection: true,
		KafkaVersion: "4.3.1", ZooKeeperVersion: "3.9.5", ClickHouseCluster: "tally", Database: "tally",
		RawTopic: "events.raw", DLQTopic: "events.dlq", ConsumerGroup: "tally-processor"}
	if c.Root != want.Root || c.Dir != want.Dir || c.CacheDir != want.CacheDir || c.Topology != want.Topology ||
		c.Broker != want.Broker || c.Ports != want.Ports || c.Processors != want.Processors || c.Partitions != want.Partitions ||
		c.Dashboard != want.Dashboard || c.FaultInjection != want.FaultInjection || c.KafkaVersion != want.KafkaVersion ||
		c.ZooKeeperVersion != want.ZooKeeperVersion || c.ClickHouseCluster != want.ClickHouseCluster ||
		c.Database != want.Database || c.RawTopic != want.RawTopic || c.DLQTopic != want.DLQTopic ||
		c.ConsumerGroup != want.ConsumerGroup || c.Chromium || c.ClickHouseLogQueries {
		t.Fatalf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestFromEnvKnobs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{"PORT_BASE shifts every port", map[string]string{"PORT_BASE": "20000"}, func(t *testing.T, c Config) {
			if c.Ports != DefaultPorts(20000) || c.Ports.Kafka != 29092 || c.Ports.Dashboard != 23000 {
				t.Errorf("ports %+v", c.Ports)
			}
		}},
		{"a per-port override wins over PORT_BASE", map[string]string{"PORT_BASE": "20000", "KAFKA_PORT": "19092", "CH_HTTP_PORT": "18123", "DASHBOARD_PORT": "5173"}, func(t *testing.T, c Config) {
			if c.Ports.Kafka != 19092 || c.Ports.ClickHouseHTTP != 18123 || c.Ports.Dashboard != 5173 || c.Ports.Redis != 26379 {
				t.Errorf("ports %+v", c.Ports)
			}
		}},
		{"a cluster runs three processors by default", map[string]string{"TOPOLOGY": "cluster"}, func(t *testing.T, c Config) {
			if c.Topology != Cluster || c.Processors != 3 {
				t.Errorf("topology %s, processors %d", c.Topology, c.Processors)
			}
		}},
		{"switches", map[string]string{"PROCESSORS": "4", "PARTITIONS": "16", "WITH_DASHBOARD": "0", "TALLY_FAULT_INJECTION": "false",
			"BROKER": "embedded", "WITH_CHROMIUM": "1", "STACK_DIR": "/tmp/s", "TALLY_CACHE_DIR": "/tmp/c", "CH_LOG_QUERIES": "1"}, func(t *testing.T, c Config) {
			if c.Processors != 4 || c.Partitions != 16 || c.Dashboard || c.FaultInjection || c.Broker != EmbeddedKafka ||
				!c.Chromium || c.Dir != "/tmp/s" || c.CacheDir != "/tmp/c" || !c.ClickHouseLogQueries {
				t.Errorf("config %+v", c)
			}
		}},
		{"service settings", map[string]string{"TALLY_CLICKHOUSE_DATABASE": "t2", "TALLY_RAW_TOPIC": "r", "TALLY_DLQ_TOPIC": "d",
			"TALLY_CONSUMER_GROUP": "g", "TALLY_CLICKHOUSE_CLUSTER": "prod"}, func(t *testing.T, c Config) {
			if c.Database != "t2" || c.RawTopic != "r" || c.DLQTopic != "d" || c.ConsumerGroup != "g" || c.ClickHouseCluster != "prod" {
				t.Errorf("config %+v", c)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromEnv("/repo", env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestFromEnvRejectsBadSettings(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"PORT_BASE": "abc", "WITH_DASHBOARD": "maybe"}, []string{`PORT_BASE="abc"`, `WITH_DASHBOARD="maybe"`}},
		{map[string]string{"TOPOLOGY": "ring", "BROKER": "redpanda"}, []string{`TOPOLOGY "ring"`, `BROKER "redpanda"`}},
		{map[string]string{"TOPOLOGY": "cluster", "BROKER": "embedded"}, []string{"needs BROKER=kafka"}},
		{map[string]string{"PORT_BASE": "60000"}, []string{"outside 1..65535"}},
		{map[string]string{"KAFKA_PORT": "6379"}, []string{"kafka-1 main port 6379 collides with redis main"}},
		{map[string]string{"TOPOLOGY": "cluster", "CH_PORT": "9192"}, []string{"collides"}},
		{map[string]string{"PROCESSORS": "0", "PARTITIONS": "-1"}, []string{"PROCESSORS must be in 1..20", "PARTITIONS must be positive"}},
		{map[string]string{"TALLY_CLICKHOUSE_CLUSTER": "a-b", "TALLY_RAW_TOPIC": "x", "TALLY_DLQ_TOPIC": "x"}, []string{"TALLY_CLICKHOUSE_CLUSTER", "must be set and differ"}},
	} {
		_, err := FromEnv("/repo", env(tc.env))
		if err == nil {
			t.Errorf("%v: accepted", tc.env)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not mention %q", tc.env, err, w)
			}
		}
	}
}

// A stack directory remembers its topology, so status and down on a
// cluster need no TOPOLOGY; an explicit TOPOLOGY still wins.
func TestTopologyComesFromTheRecord(t *testing.T) {
	dir := t.TempDir()
	c, err := FromEnv("/repo", env(map[string]string{"STACK_DIR": dir, "TOPOLOGY": "cluster", "PORT_BASE": "1000"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	got, err := FromEnv("/repo", env(map[string]string{"STACK_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Topology != Cluster || got.Processors != 3 {
		t.Errorf("without TOPOLOGY: %s with %d processors, want the recorded cluster with 3", got.Topology, got.Processors)
	}
	got, err = FromEnv("/repo", env(map[string]string{"STACK_DIR": dir, "TOPOLOGY": "single"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Topology != Single {
		t.Errorf("TOPOLOGY=single gave %s", got.Topology)
	}
	rec, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Ports != c.Ports || rec.Dir != dir || rec.Topology != Cluster || rec.Processors != 3 {
		t.Errorf("record %+v, want %+v", rec, c)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadConfig of a directory without a record succeeded")
	}
}
