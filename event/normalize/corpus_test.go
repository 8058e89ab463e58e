package normalize

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusCase is one line of testdata/timestamps.txt.
type corpusCase struct {
	family, value, want string // want: RFC 3339 UTC with ms, or a rejection code
	line                int
}

func readTimestampCorpus(t testing.TB) []corpusCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "timestamps.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusCase
	family := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			family = strings.TrimPrefix(line, "## ")
			continue
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		}
		value, want, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("timestamps.txt:%d: no tab", n)
		}
		out = append(out, corpusCase{family: family, value: value, want: want, line: n})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTimestampCorpus reads every real-world string of testdata/timestamps.txt
// and scores the engine: right (the expected instant or rejection code),
// wrongly rejected (a readable form refused, or the wrong code), and misread
// (an instant other than the expected one, or one where a rejection was
// expected). Misreads must be zero and right at least 95%.
func TestTimestampCorpus(t *testing.T) {
	e := newEngine(t)
	cases := readTimestampCorpus(t)
	type score struct{ right, rejected, misread int }
	perFamily := map[string]*score{}
	var order []string
	var total score
	for _, c := range cases {
		s := perFamily[c.family]
		if s == nil {
			s = &score{}
			perFamily[c.family] = s
			order = append(order, c.family)
		}
		ev, rej := norm(e, `{"source":"c","amount":1,"timestamp":`+c.value+`}`)
		got := ""
		if rej != nil {
			got = rej.Code
			if rej.Field != "timestamp" {
				t.Errorf("line %d %s: rejected on %s: %v", c.line, c.value, rej.Field, rej)
				continue
			}
		} else {
			got = ev.Timestamp.Format("2006-01-02T15:04:05.000Z07:00")
		}
		wantInstant := !strings.HasPrefix(c.want, "timestamp_")
		switch {
		case got == c.want:
			s.right++
		case rej == nil:
			s.misread++
			t.Errorf("line %d MISREAD %s: got %s, want %s", c.line, c.value, got, c.want)
		default:
			s.rejected++
			if wantInstant {
				t.Errorf("line %d %s: rejected %v, want %s", c.line, c.value, rej, c.want)
			} else {
				t.Errorf("line %d %s: rejected with %s, want %s (%s)", c.line, c.value, got, c.want, rej.Message)
			}
		}
	}
	for _, f := range order {
		s := perFamily[f]
		total.right += s.right
		total.rejected += s.rejected
		total.misread += s.misread
		t.Logf("%-45s right %3d  wrongly rejected %3d  misread %3d", f, s.right, s.rejected, s.misread)
	}
	n := len(cases)
	t.Logf("TOTAL %d strings: right %d (%.1f%%), wrongly rejected %d, misread %d",
		n, total.right, 100*float64(total.right)/float64(n), total.rejected, total.misread)
	if total.misread > 0 || float64(total.right) < 0.95*float64(n) {
		t.Fatalf("corpus target missed: %d misreads (want 0), %d/%d right (want ≥ 95%%)", total.misread, total.right, n)
	}
}

// BenchmarkTimestampText measures the timestamp readers alone, for the
// comparison in the package doc: the ISO fast path and the text reader.
func BenchmarkTimestampText(b *testing.B) {
	e := newEngine(b)
	env := &e.base.ts
	b.Run("iso", func(b *testing.B) {
		s := []byte("2024-01-15T10:30:00.123+02:00")
		for b.Loop() {
			parseISO(s, env.loc)
		}
	})
	b.Run("text", func(b *testing.B) {
		in := [][]byte{[]byte("Tue, 02 Jan 2024 15:04:05 GMT"), []byte("Tue Jan  2 15:04:05 2024"),
			[]byte("January 2, 2024 3:04:05 PM UTC"), []byte("10/Oct/2000:13:55:36 -0700"),
			[]byte("2024-01-02 15:04:05.123456789 +0100 CET")}
		i := 0
		var sc textScratch
		for b.Loop() {
			if _, _, err := parseText(in[i%len(in)], env, &sc); err != nil {
				b.Fatal(err.msg)
			}
			i++
		}
	})
	b.Run("event-iso", func(b *testing.B) {
		raw := []byte(`{"source":"client_A","metric":"m","amount":1,"timestamp":"2024-01-15T10:30:00.123+02:00"}`)
		for b.Loop() {
			e.Normalize(Input{Raw: raw})
		}
	})
}
