//go:build integration

package localstack_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tally-dev/tally/event/testenv"
)

// TestIsolateCutsANodeOffTheNetwork cuts a running node (Redis, on its own
// state directory and ports) off the network and heals it: while cut, new
// connections fail and a connection opened before the cut gets no answer,
// yet the node keeps running; after the heal it answers again, and the
// stack stops cleanly with nothing of the cut left behind.
func TestIsolateCutsANodeOffTheNetwork(t *testing.T) {
	s := testenv.PrivateStack(t, ".stack-test-netcut", "TALLY_TEST_NETCUT_PORT_BASE", 22000, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := s.Start(ctx, "redis"); err != nil {
		t.Fatal(err)
	}
	n, err := s.Node("redis")
	if err != nil {
		t.Fatal(err)
	}
	ping := func(c net.Conn) error {
		if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
			return err
		}
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil && !strings.HasPrefix(line, "+PONG") {
			t.Fatalf("PING answered %q", line)
		}
		return err
	}
	before, err := net.Dial("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	if err := ping(before); err != nil {
		t.Fatalf("PING before the cut: %v", err)
	}

	if err := s.Isolate(ctx, "redis"); err != nil {
		t.Fatalf("isolate: %v (needs root and iptables)", err)
	}
	if err := s.Isolate(ctx, "redis"); err == nil {
		t.Error("cutting a node twice succeeded")
	}
	if c, err := net.DialTimeout("tcp", n.Addr(), 2*time.Second); err == nil {
		c.Close()
		t.Error("a new connection reached the cut node")
	}
	if err := ping(before); err == nil {
		t.Error("a connection opened before the cut still got an answer")
	}
	if !s.Running("redis") {
		t.Error("the cut node stopped running")
	}

	if err := s.Heal(ctx, "redis"); err != nil {
		t.Fatal(err)
	}
	after, err := net.DialTimeout("tcp", n.Addr(), 2*time.Second)
	if err != nil {
		t.Fatalf("dial after the heal: %v", err)
	}
	defer after.Close()
	if err := ping(after); err != nil {
		t.Fatalf("PING after the heal: %v", err)
	}
	if err := s.Heal(ctx, "redis"); err != nil {
		t.Errorf("healing a node that is not cut: %v", err)
	}
}
