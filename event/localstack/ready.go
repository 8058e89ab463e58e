package localstack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrExited is returned (wrapped, with the end of the node's log) when a
// node's process exits before it became ready. The chaos suite expects it
// when it arms a failpoint that crashes a processor during start-up.
var ErrExited = errors.New("exited during start-up")

// readyTimeout bounds how long a node of kind k may take to become ready.
// A JVM broker on a loaded two-core machine is the slowest.
func readyTimeout(k Kind) time.Duration {
	switch k {
	case Kafka:
		return 90 * time.Second
	case ClickHouse:
		return 60 * time.Second
	case ZooKeeper:
		return 30 * time.Second
	case Redis:
		return 20 * time.Second
	}
	return 30 * time.Second
}

// probe checks once whether node n answers as a ready node of its kind
// does: Redis PONGs, ZooKeeper serves, ClickHouse runs SELECT 1, a Kafka
// broker lists itself as registered in the cluster metadata it serves, and
// a service's readiness endpoint answers 200.
func (c Config) probe(ctx context.Context, n Node) error {
	switch n.Kind {
	case Redis:
		return exchange(ctx, n.Addr(), "PING\r\n", "+PONG")
	case ZooKeeper:
		// Not ruok: it answers imok before the server takes sessions.
		// srvr says "not currently serving requests" until it does.
		return exchange(ctx, n.Addr(), "srvr", "Zookeeper version:")
	case ClickHouse:
		return httpOK(ctx, n.URL()+"/?query=SELECT%201")
	case Kafka:
		return kafkaRegistered(ctx, n, c.Broker == RealKafka)
	case Ingestor, QueryAPI:
		return httpOK(ctx, n.URL()+"/readyz")
	case Processor:
		return httpOK(ctx, n.URL()+"/healthz")
	case Dashboard:
		return httpOK(ctx, n.URL()+"/")
	}
	return fmt.Errorf("no readiness check for %s", n.Kind)
}

// exchange sends req on a new connection and expects the reply to start
// with want.
func exchange(ctx context.Context, addr, req, want string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, req); err != nil {
		return err
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if !strings.HasPrefix(got, want) {
		return fmt.Errorf("%s answered %q, want %q", addr, got, want)
	}
	return nil
}

func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// kafkaRegistered asks broker n alone for cluster metadata. A real broker
// is ready once it lists itself: it has joined the KRaft quorum, registered
// and been unfenced, so it can lead and follow partitions. The embedded
// broker is ready once it answers.
func kafkaRegistered(ctx context.Context, n Node, checkID bool) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.RequestRetries(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if !checkID {
		return nil
	}
	if !slices.ContainsFunc(resp.Brokers, func(b kmsg.MetadataResponseBroker) bool { return int(b.NodeID) == n.Index }) {
		return fmt.Errorf("broker %d is not registered yet", n.Index)
	}
	return nil
}

// waitReady polls probe until it succeeds, the process exits (ErrExited),
// or timeout passes; failures carry the end of the node's log.
func waitReady(ctx context.Context, name string, timeout time.Duration, probe func(context.Context) error, running func() bool, logPath string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(4 * pollEvery)
	defer t.Stop()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		last = probe(pctx)
		pcancel()
		if last == nil {
			return nil
		}
		if !running() {
			return fmt.Errorf("%s %w (log: %s):\n%s", name, ErrExited, logPath, tail(logPath, 30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %w (log: %s):\n%s", name, timeout, last, logPath, tail(logPath, 30))
		case <-t.C:
		}
	}
}
