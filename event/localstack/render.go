package localstack

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
)

// setting is one key and value of a server's configuration file.
type setting struct{ key, value string }

// redisServerSettings are every redis-server setting of the local stack, in
// one place. Redis is a cache in front of ClickHouse here, so nothing is
// persisted (no RDB snapshots, no AOF): a restart starts empty, which the
// pipeline must survive anyway.
func redisServerSettings(port int, dataDir string) []setting {
	return []setting{
		{"bind", Host},
		{"port", strconv.Itoa(port)},
		{"protected-mode", "no"},
		{"daemonize", "no"},
		{"dir", dataDir},
		{"save", `""`},
		{"appendonly", "no"},
	}
}

// redisConf renders redis.conf for node n.
func (c Config) redisConf(n Node) string {
	var b strings.Builder
	b.WriteString("# Written by the local stack supervisor (event/localstack); rewritten on every start.\n")
	for _, s := range redisServerSettings(n.Port(), c.dataDir(n)) {
		fmt.Fprintf(&b, "%s %s\n", s.key, s.value)
	}
	return b.String()
}

// kafkaProperties renders server.properties for broker n. Every broker is
// a combined KRaft broker and controller. On a cluster, topics and the
// internal offsets and transaction logs are replicated to all three
// brokers and a write needs two in-sync copies; an out-of-sync replica is
// never elected leader, so an acknowledged record is never truncated away.
func (c Config) kafkaProperties(n Node) string {
	brokers := c.count(Kafka)
	minISR := min(2, brokers)
	var voters []string
	for i := 1; i <= brokers; i++ {
		voters = append(voters, fmt.Sprintf("%d@%s:%d", i, Host, c.node(Kafka, i).Ports[RoleController]))
	}
	s := []setting{
		{"process.roles", "broker,controller"},
		{"node.id", strconv.Itoa(n.Index)},
		{"controller.quorum.voters", strings.Join(voters, ",")},
		{"listeners", fmt.Sprintf("PLAINTEXT://%s:%d,CONTROLLER://%s:%d", Host, n.Port(), Host, n.Ports[RoleController])},
		{"advertised.listeners", fmt.Sprintf("PLAINTEXT://%s:%d", Host, n.Port())},
		{"controller.listener.names", "CONTROLLER"},
		{"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"},
		{"inter.broker.listener.name", "PLAINTEXT"},
		{"log.dirs", c.dataDir(n)},
		{"num.partitions", strconv.Itoa(c.Partitions)},
		{"default.replication.factor", strconv.Itoa(brokers)},
		{"min.insync.replicas", strconv.Itoa(minISR)},
		{"unclean.leader.election.enable", "false"},
		{"offsets.topic.replication.factor", strconv.Itoa(brokers)},
		{"offsets.topic.num.partitions", "8"},
		{"transaction.state.log.replication.factor", strconv.Itoa(brokers)},
		{"transaction.state.log.min.isr", strconv.Itoa(minISR)},
		{"group.initial.rebalance.delay.ms", "0"},
		{"auto.create.topics.enable", "false"},
		{"log.retention.hours", "168"},
	}
	var b strings.Builder
	b.WriteString("# Written by the local stack supervisor (event/localstack); rewritten on every start.\n")
	for _, kv := range s {
		fmt.Fprintf(&b, "%s=%s\n", kv.key, kv.value)
	}
	return b.String()
}

// zooCfg renders zoo.cfg for a standalone ZooKeeper. The admin server is
// off (it would take port 8080, the ingestor's); four-letter words are
// limited to the ones the supervisor and operators use.
func (c Config) zooCfg(n Node) string {
	s := []setting{
		{"tickTime", "2000"},
		{"initLimit", "10"},
		{"syncLimit", "5"},
		{"dataDir", c.dataDir(n)},
		{"clientPort", strconv.Itoa(n.Port())},
		{"clientPortAddress", Host},
		{"maxClientCnxns", "0"},
		{"admin.enableServer", "false"},
		{"4lw.commands.whitelist", "srvr,ruok,mntr"},
		{"autopurge.snapRetainCount", "3"},
		{"autopurge.purgeInterval", "1"},
	}
	var b strings.Builder
	b.WriteString("# Written by the local stack supervisor (event/localstack); rewritten on every start.\n")
	for _, kv := range s {
		fmt.Fprintf(&b, "%s=%s\n", kv.key, kv.value)
	}
	return b.String()
}

// clickhouseConfigXML is a complete server configuration, so the stack does
// not depend on what /etc/clickhouse-server holds. Values not about paths
// and ports are the ones the Debian package ships with.
const clickhouseConfigXML = `<?xml version="1.0"?>
<!-- Written by the local stack supervisor (event/localstack) for {{.Name}}; rewritten on every start. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>{{.Log}}/{{.Name}}-server.log</log>
        <errorlog>{{.Log}}/{{.Name}}-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>{{.Host}}</listen_host>
    <tcp_port>{{.TCP}}</tcp_port>
    <http_port>{{.HTTP}}</http_port>
    <interserver_http_port>{{.Interserver}}</interserver_http_port>
    <!-- Replicas fetch parts from each other at this host, not the machine's name. -->
    <interserver_http_host>{{.Host}}</interserver_http_host>
    <path>{{.Data}}/</path>
    <tmp_path>{{.Data}}/tmp/</tmp_path>
    <user_files_path>{{.Data}}/user_files/</user_files_path>
    <format_schema_path>{{.Data}}/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <max_connections>4096</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>8589934592</uncompressed_cache_size>
    <mark_cache_size>5368709120</mark_cache_size>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <partition_by>toYYYYMM(event_date)</partition_by>
        <flush_interval_milliseconds>7500</flush_interval_milliseconds>
    </query_log>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
</yandex>
`

// clickhouseUsersXML: one passwordless default user, reachable from
// loopback only (the stack never listens elsewhere); with LogQueries its
// queries are recorded in system.query_log.
const clickhouseUsersXML = `<?xml version="1.0"?>
<!-- Written by the local stack supervisor (event/localstack); rewritten on every start. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>10000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
{{- if .LogQueries}}
            <log_queries>1</log_queries>
{{- end}}
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`

// clickhouseClusterXML is the override (config.d/cluster.xml) that turns
// the servers of a Cluster stack into shards of replicas: the cluster in
// remote_servers (internal_replication, because Replicated tables copy data
// themselves and a Distributed table must write to one replica only), the
// ZooKeeper that coordinates them, and the macros that ReplicatedMergeTree
// paths and ON CLUSTER DDL expand per server.
const clickhouseClusterXML = `<?xml version="1.0"?>
<!-- Written by the local stack supervisor (event/localstack) for {{.Name}}; rewritten on every start. -->
<yandex>
    <remote_servers>
        <{{.Cluster}}>
{{- range .Shards}}
            <shard>
                <internal_replication>true</internal_replication>
{{- range .}}
                <replica>
                    <host>{{$.Host}}</host>
                    <port>{{.}}</port>
                </replica>
{{- end}}
            </shard>
{{- end}}
        </{{.Cluster}}>
    </remote_servers>
    <zookeeper>
        <node>
            <host>{{.Host}}</host>
            <port>{{.ZooKeeper}}</port>
        </node>
        <session_timeout_ms>30000</session_timeout_ms>
    </zookeeper>
    <macros>
        <cluster>{{.Cluster}}</cluster>
        <shard>{{printf "%02d" .Shard}}</shard>
        <replica>{{.Name}}</replica>
    </macros>
</yandex>
`

// clickhouseFiles renders the configuration files of ClickHouse node n,
// keyed by their path relative to the node's configuration directory.
func (c Config) clickhouseFiles(n Node) (map[string]string, error) {
	// The servers' ports, shard by shard.
	var shards [][]int
	for i := 1; i <= c.count(ClickHouse); i++ {
		if s := c.clickhouseShard(i); s > len(shards) {
			shards = append(shards, nil)
		}
		shards[len(shards)-1] = append(shards[len(shards)-1], c.node(ClickHouse, i).Port())
	}
	data := map[string]any{
		"Name": n.Name, "Host": Host, "Log": c.logDir(), "Data": c.dataDir(n),
		"TCP": n.Port(), "HTTP": n.Ports[RoleHTTP], "Interserver": n.Ports[RoleInterserver],
		"Cluster": c.ClickHouseCluster, "Shards": shards, "Shard": c.clickhouseShard(n.Index), "ZooKeeper": c.Ports.ZooKeeper,
		"LogQueries": c.ClickHouseLogQueries,
	}
	files := map[string]string{}
	var err error
	if files["config.xml"], err = render(clickhouseConfigXML, data); err != nil {
		return nil, err
	}
	if files["users.xml"], err = render(clickhouseUsersXML, data); err != nil {
		return nil, err
	}
	if c.Topology == Cluster {
		if files[filepath.Join("config.d", "cluster.xml")], err = render(clickhouseClusterXML, data); err != nil {
			return nil, err
		}
	}
	return files, nil
}

func render(text string, data any) (string, error) {
	t, err := template.New("").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// State layout under Config.Dir.
func (c Config) runDir() string        { return filepath.Join(c.Dir, "run") }
func (c Config) logDir() string        { return filepath.Join(c.Dir, "log") }
func (c Config) binDir() string        { return filepath.Join(c.Dir, "bin") }
func (c Config) dataDir(n Node) string { return filepath.Join(c.Dir, "data", n.Name) }
func (c Config) confDir(n Node) string { return filepath.Join(c.Dir, "conf", n.Name) }
func (c Config) pidPath(name string) string {
	return filepath.Join(c.runDir(), name+".pid")
}

// LogPath is where node name's output goes.
func (c Config) LogPath(name string) string { return filepath.Join(c.logDir(), name+".log") }

func (c Config) kafkaHome() string {
	return filepath.Join(c.CacheDir, "kafka-"+c.KafkaVersion)
}

func (c Config) zookeeperHome() string {
	return filepath.Join(c.CacheDir, "zookeeper-"+c.ZooKeeperVersion)
}
