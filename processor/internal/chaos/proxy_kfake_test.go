//go:build chaos

package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaProxy proves a client that knows only the proxy stays behind it
// (the broker addresses in metadata are rewritten): a partition stops its
// produces, and healing lets them through.
func TestKafkaProxy(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.SeedTopics(4, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ps := kafkaProxies(t, c.ListenAddrs())
	var seeds []string
	for _, p := range ps {
		seeds = append(seeds, p.addr())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("t"), kgo.RequestTimeoutOverhead(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
	}
	if err := produce(); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	for _, p := range ps {
		p.partition()
	}
	// An idempotent producer cannot give up on a produce the broker may
	// have taken, so it waits out the partition.
	done := make(chan error, 1)
	go func() { done <- cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("y")}).FirstErr() }()
	select {
	case err := <-done:
		t.Fatalf("a produce finished during a partition (%v): the client bypassed the proxy", err)
	case <-time.After(2 * time.Second):
	}
	for _, p := range ps {
		p.heal()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("produce after the partition healed: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("produce did not finish after the partition healed")
	}
}

// TestProxySlow proves the delay is paid per request.
func TestProxySlow(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := kafkaProxies(t, c.ListenAddrs())[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr()), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p.slow(300 * time.Millisecond)
	start := time.Now()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("a produce through a slow proxy took %v", d)
	}
}
