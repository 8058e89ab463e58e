package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestMain lets the test binary act as "tallybench ceiling-server", which
// is how startCeilingProcess runs the child (os.Executable).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ceilingProcessName {
		if err := runCeilingServer(os.Args[2:]); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCeilingProcess starts the ceiling server as its own process against
// an in-memory Kafka, checks that it answers 202 with one id per event only
// after producing, that its CPU is sampled under its own name, and that it
// exits when stopped.
func TestCeilingProcess(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events.raw.bench-ceiling"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	b := &bench{brokers: cluster.ListenAddrs(), topic: "events.raw", log: io.Discard, costs: newCostTracker()}
	srv, err := b.startCeilingProcess()
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.close()
		}
	}()
	resp, err := http.Post(srv.url, "application/json", strings.NewReader(`[{"a":1},{"b":2}]`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct {
		Results []struct {
			EventID string `json:"eventId"`
			Status  string `json:"status"`
		} `json:"results"`
	}
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(body, &got) != nil || len(got.Results) != 2 ||
		len(got.Results[0].EventID) != 64 || got.Results[1].Status != "accepted" {
		t.Fatalf("POST two events: %d %s", resp.StatusCode, body)
	}
	b.costs.mu.Lock()
	watched := len(b.costs.extra)
	b.costs.mu.Unlock()
	if watched != 1 {
		t.Fatalf("cost tracker watches %d extra processes, want the ceiling server", watched)
	}
	srv.close()
	stopped = true
	if _, ok := b.costs.procs[ceilingProcessName]; !ok {
		t.Errorf("no CPU sample under %q: %v", ceilingProcessName, b.costs.procs)
	}
	if len(b.costs.extra) != 0 {
		t.Errorf("the stopped server is still watched")
	}
	// Stopped means gone: the port no longer answers.
	c := http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Post(srv.url, "application/json", bytes.NewReader([]byte(`{}`))); err == nil {
		resp.Body.Close()
		t.Fatalf("the ceiling server still answers after close: %d", resp.StatusCode)
	}
}

// firstLine hands on the first line even when it arrives in pieces, once,
// and swallows everything after it.
func TestFirstLine(t *testing.T) {
	f := &firstLine{line: make(chan string, 1)}
	for _, p := range []string{"http://127.0", ".0.1:4", "242\nmore\n", "and more\n"} {
		if n, err := f.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	select {
	case got := <-f.line:
		if got != "http://127.0.0.1:4242" {
			t.Fatalf("first line %q", got)
		}
	default:
		t.Fatal("no line handed on")
	}
	select {
	case got := <-f.line:
		t.Fatalf("a second line was handed on: %q", got)
	default:
	}
}
