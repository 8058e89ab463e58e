package main

import (
	"maps"
	"testing"
)

func TestOffsetsRoundTrip(t *testing.T) {
	in := map[int32]int64{0: 12, 3: 0, 7: 1 << 40}
	out, err := parseOffsets(formatOffsets(in))
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(in, out) {
		t.Fatalf("got %v, want %v", out, in)
	}
	for _, bad := range []string{"", "1", "1:", ":2", "a:1", "1:-2", "-1:2", "1:2,3"} {
		if _, err := parseOffsets(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// The sink's standard output may arrive in any pieces: "ready" is handed
// on once, progress lines set the count, a partial line waits for its end.
func TestSinkProgressLines(t *testing.T) {
	s := &sinkProcess{ready: make(chan string, 1)}
	for _, p := range []string{"rea", "dy\ninserted 10", "0\ninser", "ted 250\ninserted 3"} {
		if _, err := s.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if got := <-s.ready; got != "ready" {
		t.Fatalf("ready line %q", got)
	}
	if n := s.inserted.Load(); n != 250 {
		t.Fatalf("inserted %d, want 250 (the unfinished line must not count yet)", n)
	}
	if _, err := s.Write([]byte("00\n")); err != nil {
		t.Fatal(err)
	}
	if n := s.inserted.Load(); n != 300 {
		t.Fatalf("inserted %d, want 300", n)
	}
}
