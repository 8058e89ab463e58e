package normalize

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestGoldenCLI runs RunCLI's engine over testdata/corpus.ndjson with a fixed
// clock and compares with testdata/corpus.golden (go test -update rewrites).
func TestGoldenCLI(t *testing.T) {
	goldenCLI(t, "corpus.ndjson", "corpus.golden", CLIOptions{})
}

// TestGoldenCLIExplain is the same run with --explain: every line says which
// rule produced each field (testdata/explain.golden).
func TestGoldenCLIExplain(t *testing.T) {
	goldenCLI(t, "corpus.ndjson", "explain.golden", CLIOptions{Explain: true})
}

func goldenCLI(t *testing.T, input, goldenName string, opts CLIOptions) {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("testdata", input))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	clock := func() time.Time { return received }
	cfg := DefaultConfig()
	if opts.Explain {
		// A profile, so that the explanation of profile rules is covered.
		cfg.Profiles = []Profile{{Name: "cents", ClientIDs: []string{"client_C"}, Aliases: ProfileAliases{Amount: []string{"quantity"}}, AmountExponent: -2}}
	}
	if err := runCLI(cfg, bytes.NewReader(in), &out, clock, opts); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", goldenName)
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		gl, wl := strings.Split(out.String(), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("output line %d differs:\n got %s\nwant %s", i+1, g, w)
			}
		}
	}
	// One output line per non-blank input line.
	nonBlank := 0
	for _, l := range strings.Split(string(in), "\n") {
		if strings.TrimSpace(l) != "" {
			nonBlank++
		}
	}
	if got := bytes.Count(out.Bytes(), []byte("\n")); got != nonBlank {
		t.Fatalf("%d output lines for %d events", got, nonBlank)
	}
}

func TestCLILongLines(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Limits.MaxBytes = 2 << 20
	// A 1.5 MiB event is read whole; a line beyond the limit is reported
	// without being held; the line after it is still processed.
	big := `{"source":"c","amount":1,"ts":1704067200,"pad":"` + strings.Repeat("p", 3<<19) + `"}`
	huge := strings.Repeat("x", 5<<20)
	in := big + "\r\n\n   \n" + huge + "\n" + `{"source":"c","amount":2,"ts":1704067200}`
	var out bytes.Buffer
	if err := RunCLI(cfg, strings.NewReader(in), &out, CLIOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], `{"status":"ok"`) ||
		!strings.Contains(lines[1], `"code":"too_large"`) || !strings.Contains(lines[2], `"amount":2`) {
		t.Fatalf("got %q", out.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestCLIErrors(t *testing.T) {
	bad := DefaultConfig()
	bad.Limits.MaxBytes = 0
	if err := RunCLI(bad, strings.NewReader("{}"), &bytes.Buffer{}, CLIOptions{}); err == nil {
		t.Fatal("invalid config accepted")
	}
	if err := RunCLI(DefaultConfig(), strings.NewReader("{}\n"), failingWriter{}, CLIOptions{}); err == nil {
		t.Fatal("write error swallowed")
	}
}
