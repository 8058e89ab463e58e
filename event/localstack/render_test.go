package localstack

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Every configuration file the supervisor writes, for both topologies.
func TestRenderedConfigs(t *testing.T) {
	for _, top := range []Topology{Single, Cluster} {
		c := testConfig(t, top)
		for _, n := range c.Nodes() {
			var files map[string]string
			switch n.Kind {
			case Redis:
				files = map[string]string{"redis.conf": c.redisConf(n)}
			case ZooKeeper:
				files = map[string]string{"zoo.cfg": c.zooCfg(n)}
			case Kafka:
				files = map[string]string{"server.properties": c.kafkaProperties(n)}
			case ClickHouse:
				var err error
				if files, err = c.clickhouseFiles(n); err != nil {
					t.Fatal(err)
				}
			}
			for rel, text := range files {
				t.Run(string(top)+"/"+n.Name+"/"+rel, func(t *testing.T) {
					if strings.HasSuffix(rel, ".xml") {
						wellFormed(t, text)
					}
					golden(t, filepath.Join("conf", string(top), n.Name, rel), text)
				})
			}
		}
	}
}

func wellFormed(t *testing.T, text string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(text))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, text)
		}
	}
}

func properties(text string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

// The durability settings the cluster promises, checked by name so a
// golden-file update cannot quietly weaken them.
func TestClusterKafkaDurability(t *testing.T) {
	c := testConfig(t, Cluster)
	for i := 1; i <= 3; i++ {
		n, _ := c.Node(nodeName(Kafka, i))
		p := properties(c.kafkaProperties(n))
		for k, want := range map[string]string{
			"node.id":                                  string(rune('0' + i)),
			"controller.quorum.voters":                 "1@127.0.0.1:39093,2@127.0.0.1:39193,3@127.0.0.1:39293",
			"default.replication.factor":               "3",
			"min.insync.replicas":                      "2",
			"unclean.leader.election.enable":           "false",
			"offsets.topic.replication.factor":         "3",
			"transaction.state.log.replication.factor": "3",
			"transaction.state.log.min.isr":            "2",
			"log.dirs":                                 "/stack/data/" + n.Name,
		} {
			if p[k] != want {
				t.Errorf("%s: %s=%q, want %q", n.Name, k, p[k], want)
			}
		}
	}
	single := testConfig(t, Single)
	n, _ := single.Node("kafka-1")
	p := properties(single.kafkaProperties(n))
	if p["min.insync.replicas"] != "1" || p["offsets.topic.replication.factor"] != "1" || p["controller.quorum.voters"] != "1@127.0.0.1:39093" {
		t.Errorf("single broker: %v", p)
	}
}

// The replicas share the cluster and ZooKeeper and differ only in the
// replica macro; a single server gets no cluster override at all.
func TestClickHouseReplicaConfig(t *testing.T) {
	c := testConfig(t, Cluster)
	for i, want := range []string{"clickhouse-1", "clickhouse-2"} {
		n, _ := c.Node(want)
		files, err := c.clickhouseFiles(n)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Replicas []struct {
				Host string `xml:"host"`
				Port int    `xml:"port"`
			} `xml:"remote_servers>tally>shard>replica"`
			Internal  bool   `xml:"remote_servers>tally>shard>internal_replication"`
			ZooKeeper int    `xml:"zookeeper>node>port"`
			Shard     string `xml:"macros>shard"`
			Replica   string `xml:"macros>replica"`
		}
		if err := xml.Unmarshal([]byte(files[filepath.Join("config.d", "cluster.xml")]), &cfg); err != nil {
			t.Fatal(err)
		}
		if len(cfg.Replicas) != 2 || cfg.Replicas[0].Port != 39000 || cfg.Replicas[1].Port != 39100 || !cfg.Internal ||
			cfg.ZooKeeper != 32181 || cfg.Shard != "01" || cfg.Replica != want {
			t.Errorf("replica %d: %+v", i+1, cfg)
		}
	}
	single := testConfig(t, Single)
	n, _ := single.Node("clickhouse-1")
	files, err := single.clickhouseFiles(n)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files[filepath.Join("config.d", "cluster.xml")]; ok || len(files) != 2 {
		t.Errorf("single server files: %v", keys(files))
	}
}

// Two shards of two replicas: four servers, each told its shard, all of
// them the same remote_servers with the shards in node order.
func TestClickHouseShardedConfig(t *testing.T) {
	c, err := FromEnv("/repo", env(map[string]string{"TOPOLOGY": "cluster", "STACK_DIR": "/stack", "PORT_BASE": "30000",
		"CLICKHOUSE_SHARDS": "2", "CLICKHOUSE_REPLICAS": "2"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.count(ClickHouse); got != 4 {
		t.Fatalf("%d ClickHouse servers, want 4", got)
	}
	for i, wantShard := range []string{"01", "01", "02", "02"} {
		name := fmt.Sprintf("clickhouse-%d", i+1)
		n, err := c.Node(name)
		if err != nil {
			t.Fatal(err)
		}
		files, err := c.clickhouseFiles(n)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Shards []struct {
				Ports []int `xml:"replica>port"`
			} `xml:"remote_servers>tally>shard"`
			Shard   string `xml:"macros>shard"`
			Replica string `xml:"macros>replica"`
		}
		if err := xml.Unmarshal([]byte(files[filepath.Join("config.d", "cluster.xml")]), &cfg); err != nil {
			t.Fatal(err)
		}
		if len(cfg.Shards) != 2 || !slices.Equal(cfg.Shards[0].Ports, []int{39000, 39100}) ||
			!slices.Equal(cfg.Shards[1].Ports, []int{39200, 39300}) || cfg.Shard != wantShard || cfg.Replica != name {
			t.Errorf("%s: %+v", name, cfg)
		}
	}
	for _, bad := range []map[string]string{
		{"TOPOLOGY": "single", "CLICKHOUSE_SHARDS": "2"},
		{"TOPOLOGY": "cluster", "CLICKHOUSE_SHARDS": "3"}, // 8 partitions
		{"TOPOLOGY": "cluster", "CLICKHOUSE_SHARDS": "3", "CLICKHOUSE_REPLICAS": "3"},
	} {
		bad["STACK_DIR"] = "/stack"
		if _, err := FromEnv("/repo", env(bad)); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// CH_LOG_QUERIES turns on log_queries in every server's default profile
// (the golden files show it off).
func TestClickHouseLogQueries(t *testing.T) {
	for _, on := range []bool{false, true} {
		c := testConfig(t, Cluster)
		c.ClickHouseLogQueries = on
		for _, name := range []string{"clickhouse-1", "clickhouse-2"} {
			n, _ := c.Node(name)
			files, err := c.clickhouseFiles(n)
			if err != nil {
				t.Fatal(err)
			}
			wellFormed(t, files["users.xml"])
			var users struct {
				LogQueries string `xml:"profiles>default>log_queries"`
			}
			if err := xml.Unmarshal([]byte(files["users.xml"]), &users); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]string{true: "1"}[on]; users.LogQueries != want {
				t.Errorf("%s with log queries %v: log_queries %q, want %q", name, on, users.LogQueries, want)
			}
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
