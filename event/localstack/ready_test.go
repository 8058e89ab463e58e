package localstack

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWaitReadyReturnsOnceTheProbePasses(t *testing.T) {
	calls := 0
	probe := func(context.Context) error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}
	if err := waitReady(context.Background(), "n", 10*time.Second, probe, func() bool { return true }, "/nonexistent"); err != nil {
		t.Fatal(err)
	}
	if calls != 3 {
		t.Errorf("probed %d times, want 3", calls)
	}
}

// A node that dies while starting fails at once, with its log, instead of
// after its whole timeout.
func TestWaitReadyFailsFastWhenTheProcessExits(t *testing.T) {
	log := filepath.Join(t.TempDir(), "n.log")
	if err := os.WriteFile(log, []byte("line 1\nAddress already in use\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	err := waitReady(context.Background(), "kafka-2", time.Minute, func(context.Context) error { return errors.New("refused") },
		func() bool { return false }, log)
	if !errors.Is(err, ErrExited) {
		t.Fatalf("err %v, want ErrExited", err)
	}
	if !strings.Contains(err.Error(), "kafka-2") || !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("error lacks the node or its log: %v", err)
	}
	if time.Since(began) > 10*time.Second {
		t.Errorf("took %v", time.Since(began))
	}
}

func TestWaitReadyTimesOut(t *testing.T) {
	err := waitReady(context.Background(), "n", 300*time.Millisecond, func(context.Context) error { return errors.New("refused") },
		func() bool { return true }, "/nonexistent")
	if err == nil || errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "not ready after 300ms: refused") {
		t.Errorf("err %v", err)
	}
}

// serve answers every connection on a loopback listener with reply.
func serve(t *testing.T, reply string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte(reply))
			c.Close()
		}
	}()
	return l.Addr().String()
}

func TestExchange(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := exchange(ctx, serve(t, "+PONG\r\n"), "PING\r\n", "+PONG"); err != nil {
		t.Errorf("redis-like PONG: %v", err)
	}
	if err := exchange(ctx, serve(t, "Zookeeper version: 3.9.5\nMode: standalone\n"), "srvr", "Zookeeper version:"); err != nil {
		t.Errorf("serving zookeeper: %v", err)
	}
	if err := exchange(ctx, serve(t, "This ZooKeeper instance is not currently serving requests"), "srvr", "Zookeeper version:"); err == nil {
		t.Error("a zookeeper not serving requests counted as ready")
	}
	if err := exchange(ctx, serve(t, "-LOADING\r\n"), "PING\r\n", "+PONG"); err == nil {
		t.Error("a loading Redis counted as ready")
	}
}
