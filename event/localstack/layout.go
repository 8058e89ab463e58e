package localstack

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Kind is what a node runs.
type Kind string

// The kinds, in start order: infrastructure first, then the services that
// depend on it. Down stops them in the reverse order.
const (
	Redis      Kind = "redis"
	ZooKeeper  Kind = "zookeeper"
	ClickHouse Kind = "clickhouse"
	Kafka      Kind = "kafka"
	Ingestor   Kind = "ingestor"
	Processor  Kind = "processor"
	QueryAPI   Kind = "queryapi"
	Dashboard  Kind = "dashboard"
)

var kindOrder = []Kind{Redis, ZooKeeper, ClickHouse, Kafka, Ingestor, Processor, QueryAPI, Dashboard}

// numbered reports whether nodes of kind k are named <kind>-<index> (there
// can be several) rather than plainly <kind> (there is one).
func (k Kind) numbered() bool { return k == ClickHouse || k == Kafka || k == Processor }

// infra reports whether k is a dependency rather than a Tally service.
func (k Kind) infra() bool { return k == Redis || k == ZooKeeper || k == ClickHouse || k == Kafka }

// Port roles. Every node has RoleMain; the others exist where named.
const (
	RoleMain        = "main"        // client port of a server, HTTP port of a service
	RoleController  = "controller"  // Kafka KRaft controller listener
	RoleHTTP        = "http"        // ClickHouse HTTP interface
	RoleInterserver = "interserver" // ClickHouse replica-to-replica part fetches
)

// Node is one process of the stack.
type Node struct {
	Name  string
	Kind  Kind
	Index int // 1-based among the nodes of its kind
	// Ports by role (RoleMain, RoleController, …), all on Host.
	Ports map[string]int
}

// Port is the node's main port.
func (n Node) Port() int { return n.Ports[RoleMain] }

// Addr is host:port of the node's main port: the Kafka bootstrap address,
// the ClickHouse native-protocol address, a service's HTTP address.
func (n Node) Addr() string { return net.JoinHostPort(Host, strconv.Itoa(n.Port())) }

// URL is the node's HTTP base URL: a service's API, ClickHouse's HTTP
// interface; empty for nodes without one (Redis, ZooKeeper, Kafka).
func (n Node) URL() string {
	switch n.Kind {
	case ClickHouse:
		return "http://" + net.JoinHostPort(Host, strconv.Itoa(n.Ports[RoleHTTP]))
	case Ingestor, Processor, QueryAPI, Dashboard:
		return "http://" + n.Addr()
	}
	return ""
}

// Roles lists the node's port roles, RoleMain first.
func (n Node) Roles() []string {
	roles := make([]string, 0, len(n.Ports))
	for r := range n.Ports {
		if r != RoleMain {
			roles = append(roles, r)
		}
	}
	slices.Sort(roles)
	return append([]string{RoleMain}, roles...)
}

// count is how many nodes of kind k the configuration has.
func (c Config) count(k Kind) int {
	switch k {
	case ZooKeeper:
		if c.Topology == Cluster {
			return 1
		}
		return 0
	case ClickHouse:
		if c.Topology == Cluster {
			shards, replicas := c.clickhouseShape()
			return shards * replicas
		}
		return 1
	case Kafka:
		if c.Topology == Cluster {
			return 3
		}
		return 1
	case Processor:
		return c.Processors
	case Dashboard:
		if c.Dashboard {
			return 1
		}
		return 0
	}
	return 1
}

// clickhouseShape is the cluster's shards and replicas per shard (a stack
// recorded before the shape was configurable has 1 × 2).
func (c Config) clickhouseShape() (shards, replicas int) {
	shards, replicas = c.ClickHouseShards, c.ClickHouseReplicas
	if shards < 1 {
		shards = 1
	}
	if replicas < 1 {
		replicas = 2
	}
	return shards, replicas
}

// clickhouseShard is the shard (from 1) of ClickHouse node i of a cluster:
// the first replicas nodes are shard 1, the next shard 2, and so on.
func (c Config) clickhouseShard(i int) int {
	_, replicas := c.clickhouseShape()
	return (i-1)/replicas + 1
}

// ClickHouseLayout names the ClickHouse servers shard by shard: one shard
// of one server on the single topology.
func (c Config) ClickHouseLayout() [][]string {
	var out [][]string
	for i := 1; i <= c.count(ClickHouse); i++ {
		shard := 1
		if c.Topology == Cluster {
			shard = c.clickhouseShard(i)
		}
		if shard > len(out) {
			out = append(out, nil)
		}
		out[shard-1] = append(out[shard-1], c.node(ClickHouse, i).Name)
	}
	return out
}

// Nodes lists every node Up starts, in start order.
func (c Config) Nodes() []Node {
	var nodes []Node
	for _, k := range kindOrder {
		for i := 1; i <= c.count(k); i++ {
			nodes = append(nodes, c.node(k, i))
		}
	}
	return nodes
}

// Node finds a node by name. Besides the configured nodes it knows every
// processor-N, so a test can grow the consumer group (processor-4 on a
// three-processor stack).
func (c Config) Node(name string) (Node, error) {
	k, i, ok := parseName(name)
	if !ok {
		return Node{}, fmt.Errorf("no node %q in the %s stack (nodes: %s)", name, c.Topology, strings.Join(c.names(), ", "))
	}
	if k == Processor || i <= c.count(k) {
		return c.node(k, i), nil
	}
	return Node{}, fmt.Errorf("no node %q in the %s stack (nodes: %s)", name, c.Topology, strings.Join(c.names(), ", "))
}

func (c Config) names() []string {
	var out []string
	for _, n := range c.Nodes() {
		out = append(out, n.Name)
	}
	return out
}

func (c Config) node(k Kind, i int) Node {
	off := nodeStride * (i - 1)
	p := c.Ports
	n := Node{Name: nodeName(k, i), Kind: k, Index: i, Ports: map[string]int{}}
	switch k {
	case Redis:
		n.Ports[RoleMain] = p.Redis
	case ZooKeeper:
		n.Ports[RoleMain] = p.ZooKeeper
	case ClickHouse:
		n.Ports[RoleMain] = p.ClickHouse + off
		n.Ports[RoleHTTP] = p.ClickHouseHTTP + off
		n.Ports[RoleInterserver] = p.ClickHouseInterserver + off
	case Kafka:
		n.Ports[RoleMain] = p.Kafka + off
		if c.Broker == RealKafka {
			n.Ports[RoleController] = p.KafkaController + off
		}
	case Ingestor:
		n.Ports[RoleMain] = p.Ingestor
	case Processor:
		n.Ports[RoleMain] = p.Processor + off
	case QueryAPI:
		n.Ports[RoleMain] = p.QueryAPI
	case Dashboard:
		n.Ports[RoleMain] = p.Dashboard
	}
	return n
}

func nodeName(k Kind, i int) string {
	if k.numbered() {
		return fmt.Sprintf("%s-%d", k, i)
	}
	return string(k)
}

// parseName splits "kafka-2" into (Kafka, 2) and "redis" into (Redis, 1).
func parseName(name string) (Kind, int, bool) {
	base, idx, numbered := strings.Cut(name, "-")
	k := Kind(base)
	if !slices.Contains(kindOrder, k) || numbered != k.numbered() {
		return "", 0, false
	}
	if !numbered {
		return k, 1, true
	}
	i, err := strconv.Atoi(idx)
	if err != nil || i < 1 || strconv.Itoa(i) != idx {
		return "", 0, false
	}
	return k, i, true
}

// stopRank orders names for Down: services before the infrastructure they
// use, and names this version does not know (state left by an older stack
// script, such as "kafka" or "processor") by their kind prefix.
func stopRank(name string) int {
	base, _, _ := strings.Cut(name, "-")
	if i := slices.Index(kindOrder, Kind(base)); i >= 0 {
		return len(kindOrder) - i
	}
	return 0
}
