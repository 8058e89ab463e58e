// Package localstack runs Tally's local stack — real Kafka, Redis,
// ClickHouse (and, for a cluster, ZooKeeper) plus the Tally services — as
// plain processes on loopback, without Docker. It is the supervisor behind
// `make up` (event/cmd/stack, wrapped by scripts/stack.sh) and the API the
// chaos suite and the benchmark drive the stack with: start, stop, kill -9,
// pause and restart a named node, wait until it is ready, read its pid and
// ports.
//
// Two topologies share one naming scheme. Single is redis, clickhouse-1,
// kafka-1, ingestor, processor-1…N, queryapi, dashboard. Cluster adds
// zookeeper, clickhouse-2 (the second replica of one shard) and kafka-2,
// kafka-3 (replication factor 3, min.insync.replicas 2), and runs three
// processors. Ports follow the node: the first node of a kind has the
// kind's port (shifted by PORT_BASE), each further node 100 more.
//
// State lives under one directory (STACK_DIR): run/<node>.pid,
// log/<node>.log, data/<node>/, conf/<node>/ (configuration files, written
// on every start), bin/ (the services), stack.json (the configuration of
// the last Up, which LoadConfig reads back). Every node runs in its own
// session, so it outlives the supervisor and a signal reaches its whole
// process group; the pid file records the start time as well, so a reused
// pid is never mistaken for the node.
//
// Rules the supervisor keeps:
//   - Up is idempotent: it starts only what is not running and waits until
//     every node answers its readiness check, so it is also how a test
//     brings back what it broke.
//   - A node that exits while starting fails fast with ErrExited and the end
//     of its log, instead of waiting out its timeout.
//   - Down stops every node that has a pid file, whatever the current
//     configuration says, services before the infrastructure they use.
//   - Lifecycle operations are serialised across processes by a lock file;
//     Kill, Pause and Resume act at once.
package localstack
