package main

import (
	"os/exec"
	"strings"
	"testing"
)

// What `stack env` prints must read back as the same value in a shell.
func TestShellQuoteRoundTrips(t *testing.T) {
	for _, v := range []string{"127.0.0.1:9092,127.0.0.1:9192", "events.raw", "", "a b", "it's", `$HOME "x" \n`, "tally-processor"} {
		out, err := exec.Command("sh", "-c", "v="+shellQuote(v)+`; printf %s "$v"`).Output()
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if string(out) != v {
			t.Errorf("%q came back as %q", v, out)
		}
	}
	if got := shellQuote("127.0.0.1:9092,127.0.0.1:9192"); strings.Contains(got, "'") {
		t.Errorf("plain value quoted: %s", got)
	}
}
