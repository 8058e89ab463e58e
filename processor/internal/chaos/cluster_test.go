//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event/localstack"
	"github.com/tally-dev/tally/event/schema"
)

// clusterCases break what only the cluster topology has (TOPOLOGY=cluster:
// three brokers with replication factor 3 and min.insync.replicas 2, two
// ClickHouse replicas with ZooKeeper, writes with an insert quorum of 2).
// TestChaos runs them after the other cases when the stack is a cluster;
// on the single topology there is nothing for them to break.
func clusterCases() []chaosCase {
	return []chaosCase{
		{name: "cluster: kill -9 the broker leading most partitions, restart", fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			name := s.busiestLeader(t)
			s.kill9(t, name)
			time.Sleep(p.outage / 2)
			s.up(t)
		}},
		{name: "cluster: kill -9 a clickhouse replica during inserts, it catches up", fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			s.kill9(t, "clickhouse-2")
			time.Sleep(p.outage)
			s.up(t)
		}, after: func(t *testing.T, s *stack) { s.replicasAgree(t) }},
		{name: "cluster: kill -9 zookeeper, restart", fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			s.kill9(t, "zookeeper")
			time.Sleep(p.outage / 2)
			s.up(t)
		}, after: func(t *testing.T, s *stack) { s.replicasAgree(t) }},
		// A real network cut: the broker leading most partitions keeps
		// running, but every packet it sends or is sent is dropped
		// (iptables; localstack.Stack.Isolate) for longer than the
		// controller's session timeout, then the network heals.
		{name: "cluster: cut the busiest broker off the network, heal", fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			name := s.busiestLeader(t)
			s.isolate(t, name)
			time.Sleep(20 * time.Second)
			s.heal(t, name)
		}},
		// A frozen broker (SIGSTOP) past the controller's session timeout
		// (9 s): it holds its sockets and sessions but answers nothing, as
		// a process in a long pause would.
		{name: "cluster: freeze one broker past its session timeout", fault: func(t *testing.T, s *stack, p profile) {
			sleepRandom(p.duration / 3)
			s.signal(t, "kafka-2", syscall.SIGSTOP)
			time.Sleep(15 * time.Second)
			s.signal(t, "kafka-2", syscall.SIGCONT)
		}},
	}
}

// isolate cuts node name off the network and checks the cut: the node is
// alive but its port does not answer. The cut is healed when the test
// ends, whatever happens.
func (s *stack) isolate(t *testing.T, name string) {
	t.Helper()
	if err := s.st.Isolate(t.Context(), name); err != nil {
		t.Errorf("cut %s off the network: %v", name, err)
		return
	}
	t.Cleanup(func() { s.heal(t, name) })
	n, err := s.st.Node(name)
	if err != nil {
		t.Error(err)
		return
	}
	if c, err := net.DialTimeout("tcp", n.Addr(), 2*time.Second); err == nil {
		_ = c.Close()
		t.Errorf("%s still accepts connections after the cut", name)
	}
	if !s.st.Running(name) {
		t.Errorf("%s is not running: a cut must not stop it", name)
	}
	t.Logf("%s cut off the network", name)
}

func (s *stack) heal(t *testing.T, name string) {
	t.Helper()
	if err := s.st.Heal(context.Background(), name); err != nil {
		t.Errorf("heal %s: %v", name, err)
	}
}

// cluster reports whether the stack is the cluster topology.
func (s *stack) cluster() bool { return s.st.Config().Topology == localstack.Cluster }

// busiestLeader names the broker node that leads most of the raw topic's
// partitions.
func (s *stack) busiestLeader(t *testing.T) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(s.kafka, ",")...))
	if err != nil {
		t.Errorf("kafka client: %v", err)
		return "kafka-1"
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	topic := s.st.Config().RawTopic
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Errorf("metadata: %v", err)
		return "kafka-1"
	}
	led := map[int32]int{}
	for _, p := range md.Topics[topic].Partitions {
		led[p.Leader]++
	}
	best, n := int32(1), -1
	for id, c := range led {
		if c > n {
			best, n = id, c
		}
	}
	t.Logf("broker %d leads %d of %d partitions", best, n, len(md.Topics[topic].Partitions))
	return fmt.Sprintf("kafka-%d", best)
}

// replicasAgree waits until the ClickHouse replicas of each shard hold the
// same winners and read-model rows: the replica that was down (or cut from
// ZooKeeper) caught up.
func (s *stack) replicasAgree(t *testing.T) {
	t.Helper()
	cfg := s.st.Config()
	o := schema.Options{Cluster: cfg.ClickHouseCluster, Shards: len(cfg.ClickHouseLayout())}
	q := fmt.Sprintf("SELECT (SELECT count() FROM %[1]s.events) * 1000000 + (SELECT count() FROM %[1]s.state)", o.WriteDatabase(cfg.Database))
	for shard, names := range cfg.ClickHouseLayout() {
		var conns []clickhouse.Conn
		for _, name := range names {
			n, err := s.st.Node(name)
			if err != nil {
				t.Error(err)
				return
			}
			c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{n.Addr()}})
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			conns = append(conns, c)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for {
			counts := make([]uint64, len(conns))
			var errs []error
			for i, c := range conns {
				if err := c.QueryRow(ctx, q).Scan(&counts[i]); err != nil {
					errs = append(errs, err)
				}
			}
			if len(errs) == 0 && slices.Min(counts) == slices.Max(counts) {
				t.Logf("shard %d: %d replicas agree: %d events, %d state rows", shard+1, len(conns), counts[0]/1000000, counts[0]%1000000)
				break
			}
			if ctx.Err() != nil {
				t.Errorf("the clickhouse replicas of shard %d did not converge: %v (%v)", shard+1, counts, errs)
				return
			}
			time.Sleep(time.Second)
		}
	}
}
