package publish

import (
	"context"
	"errors"
	"testing"
	"time"
)

type countingPinger struct {
	calls int
	err   error
}

func (p *countingPinger) Ping(context.Context) error { p.calls++; return p.err }

func TestReadinessCaches(t *testing.T) {
	p := &countingPinger{}
	r := NewReadiness(p, time.Second, time.Second)
	now := time.Unix(0, 0)
	r.now = func() time.Time { return now }
	for range 5 {
		if err := r.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if p.calls != 1 {
		t.Errorf("pinged %d times within the cache window, want 1", p.calls)
	}
	p.err = errors.New("connection refused")
	now = now.Add(1500 * time.Millisecond)
	if err := r.Check(context.Background()); err == nil || p.calls != 2 {
		t.Errorf("after expiry: err %v, calls %d", err, p.calls)
	}
}

func TestNewClientRejectsUnknownSASL(t *testing.T) {
	if _, err := NewClient(ClientConfig{Brokers: []string{"x:1"}, Topic: "t", ProduceTimeout: time.Second,
		MaxBufferedRecords: 1, MaxRecordBytes: 1, SASLMechanism: "GSSAPI"}); err == nil {
		t.Error("GSSAPI accepted")
	}
	for _, m := range []string{"", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		cl, err := NewClient(ClientConfig{Brokers: []string{"x:1"}, Topic: "t", ProduceTimeout: time.Second,
			MaxBufferedRecords: 1, MaxRecordBytes: 1, SASLMechanism: m, SASLUser: "u", SASLPassword: "p", TLS: m != ""})
		if err != nil {
			t.Errorf("%q: %v", m, err)
			continue
		}
		cl.Close()
	}
}
