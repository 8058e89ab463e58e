package body

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

var testLimits = Limits{MaxBodyBytes: 1 << 20, MaxEvents: 5, MaxEventBytes: 200, MaxDepth: 4}

func TestSplitJSON(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   []string // raw elements
		issues []string // per-element issue codes ("" for none)
		shape  Shape
		code   string // whole-body error code
		status int
	}{
		{name: "object", body: ` {"a":1} `, want: []string{`{"a":1}`}, issues: []string{""}, shape: ShapeObject},
		{name: "object keeps bytes", body: "{\"a\" : 1.50e0,\n \"b\":\"\\u00e9\"}", want: []string{"{\"a\" : 1.50e0,\n \"b\":\"\\u00e9\"}"}, issues: []string{""}},
		{name: "array", body: `[ {"a":1} ,{"b":[1,2,{}]}]`, want: []string{`{"a":1}`, `{"b":[1,2,{}]}`}, issues: []string{"", ""}, shape: ShapeArray},
		{name: "array with scalar", body: `[{"a":1},42,"x",null]`, want: []string{`{"a":1}`, `42`, `"x"`, `null`}, issues: []string{"", IssueNotObject, IssueNotObject, IssueNotObject}, shape: ShapeArray},
		{name: "too deep element", body: `[{"a":{"b":{"c":{"d":{}}}}},{"a":{"b":{"c":{}}}}]`, want: []string{`{"a":{"b":{"c":{"d":{}}}}}`, `{"a":{"b":{"c":{}}}}`}, issues: []string{IssueTooDeep, ""}, shape: ShapeArray},
		{name: "bom", body: "\xEF\xBB\xBF{\"a\":1}", want: []string{`{"a":1}`}, issues: []string{""}},
		{name: "invalid utf8 passes to engine", body: "{\"a\":\"\xff\"}", want: []string{"{\"a\":\"\xff\"}"}, issues: []string{""}},
		{name: "duplicate keys pass to engine", body: `{"a":1,"a":2}`, want: []string{`{"a":1,"a":2}`}, issues: []string{""}},
		{name: "empty", body: "  \n", code: CodeEmptyBody, status: 400},
		{name: "empty array", body: " [ ] ", code: CodeEmptyArray, status: 400},
		{name: "trailing data", body: `{"a":1} x`, code: CodeTrailingData, status: 400},
		{name: "two objects", body: `{"a":1}{"a":2}`, code: CodeTrailingData, status: 400},
		{name: "trailing after array", body: `[{"a":1}],`, code: CodeTrailingData, status: 400},
		{name: "invalid json", body: `{"a":}`, code: CodeInvalidJSON, status: 400},
		{name: "truncated", body: `[{"a":1}`, code: CodeInvalidJSON, status: 400},
		{name: "trailing comma", body: `[{"a":1},]`, code: CodeInvalidJSON, status: 400},
		{name: "object trailing comma", body: `{"a":1,}`, code: CodeInvalidJSON, status: 400},
		{name: "bad escape", body: `{"a":"\x"}`, code: CodeInvalidJSON, status: 400},
		{name: "control char", body: "{\"a\":\"\x01\"}", code: CodeInvalidJSON, status: 400},
		{name: "leading zero", body: `{"a":01}`, code: CodeInvalidJSON, status: 400},
		{name: "scalar body", body: `42`, code: CodeInvalidBody, status: 400},
		{name: "too many", body: `[{},{},{},{},{},{}]`, code: CodeTooManyEvents, status: 413},
		{name: "event too large", body: `[{"a":"` + strings.Repeat("x", 300) + `"}]`, code: CodeEventTooLarge, status: 413},
		{name: "object too large", body: `{"a":"` + strings.Repeat("x", 300) + `"}`, code: CodeEventTooLarge, status: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			els, shape, err := NewSplitter(testLimits).Split([]byte(tt.body), JSON)
			if tt.code != "" {
				if err == nil {
					t.Fatalf("Split = %d elements, want error %s", len(els), tt.code)
				}
				if err.Code != tt.code || err.Status != tt.status {
					t.Fatalf("error = %d %s (%s), want %d %s", err.Status, err.Code, err.Message, tt.status, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			if shape != tt.shape {
				t.Errorf("shape = %v, want %v", shape, tt.shape)
			}
			assertElements(t, els, tt.want, tt.issues)
		})
	}
}

func TestSplitNDJSON(t *testing.T) {
	body := "{\"a\":1}\r\n\n  {\"b\":2}  \n[1]\n{\"c\":\n{\"d\":1} {}\n"
	els, shape, err := NewSplitter(testLimits).Split([]byte(body), NDJSON)
	if err != nil {
		t.Fatal(err)
	}
	if shape != ShapeArray {
		t.Errorf("shape = %v, want array", shape)
	}
	assertElements(t, els,
		[]string{`{"a":1}`, `{"b":2}`, `[1]`, `{"c":`, `{"d":1} {}`},
		[]string{"", "", IssueNotObject, IssueInvalid, IssueInvalid})

	for name, tc := range map[string]struct {
		body, code string
	}{
		"blank":     {"\n \n", CodeEmptyBody},
		"too many":  {strings.Repeat("{}\n", 6), CodeTooManyEvents},
		"too large": {`{"a":"` + strings.Repeat("x", 300) + "\"}\n", CodeEventTooLarge},
	} {
		_, _, err := NewSplitter(testLimits).Split([]byte(tc.body), NDJSON)
		if err == nil || err.Code != tc.code {
			t.Errorf("%s: err = %v, want %s", name, err, tc.code)
		}
	}
}

func assertElements(t *testing.T, els []Element, want, issues []string) {
	t.Helper()
	if len(els) != len(want) {
		t.Fatalf("got %d elements, want %d", len(els), len(want))
	}
	for i, el := range els {
		if string(el.Raw) != want[i] {
			t.Errorf("element %d = %q, want %q", i, el.Raw, want[i])
		}
		if el.Issue != issues[i] {
			t.Errorf("element %d issue = %q (%s), want %q", i, el.Issue, el.Message, issues[i])
		}
	}
}

func TestParseFormat(t *testing.T) {
	for ct, want := range map[string]Format{
		"": JSON, "application/json": JSON, "application/json; charset=utf-8": JSON,
		"application/vnd.api+json": JSON, "application/x-ndjson": NDJSON, "application/jsonl": NDJSON,
	} {
		got, err := ParseFormat(ct)
		if err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %v, %v; want %v", ct, got, err, want)
		}
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ";;"} {
		if _, err := ParseFormat(ct); err == nil || err.Status != http.StatusUnsupportedMediaType {
			t.Errorf("ParseFormat(%q) = %v, want 415", ct, err)
		}
	}
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRead(t *testing.T) {
	plain := []byte(`{"a":1}`)
	got, err := Read(bytes.NewReader(gzipped(t, plain)), "gzip", -1, 100)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("gzip Read = %q, %v", got, err)
	}
	got, err = Read(bytes.NewReader(plain), "", int64(len(plain)), 100)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("plain Read = %q, %v", got, err)
	}
	if _, err := Read(bytes.NewReader(plain), "", -1, 3); err == nil || err.Code != CodeBodyTooLarge {
		t.Errorf("oversized plain body: %v, want %s", err, CodeBodyTooLarge)
	}
	// 16 MB of zeros compresses to ~16 KB; the cap must stop it early.
	bomb := gzipped(t, make([]byte, 16<<20))
	if _, err := Read(bytes.NewReader(bomb), "gzip", -1, 1<<20); err == nil || err.Code != CodeBodyTooLarge || err.Status != 413 {
		t.Errorf("gzip bomb: %v, want 413 %s", err, CodeBodyTooLarge)
	}
	if _, err := Read(bytes.NewReader(plain), "gzip", -1, 100); err == nil || err.Code != CodeInvalidGzip {
		t.Errorf("not gzip: %v, want %s", err, CodeInvalidGzip)
	}
	if _, err := Read(bytes.NewReader(plain), "br", -1, 100); err == nil || err.Status != 415 || err.Code != CodeUnsupportedEncoding {
		t.Errorf("brotli: %v, want 415 %s", err, CodeUnsupportedEncoding)
	}
	truncated := gzipped(t, bytes.Repeat(plain, 100))
	if _, err := Read(bytes.NewReader(truncated[:len(truncated)/2]), "gzip", -1, 1<<20); err == nil || err.Code != CodeInvalidGzip {
		t.Errorf("truncated gzip: %v, want %s", err, CodeInvalidGzip)
	}
}

// TestReadSizes reads bodies around the buffer's edges — the size hint
// exact, too small, too large or absent, 512 bytes (the unhinted first
// buffer) and the cap itself — from readers that return one byte at a time
// or the last bytes together with EOF; every read must return the body
// exactly, and one byte over the cap must be a 413.
func TestReadSizes(t *testing.T) {
	const maxBytes = 2000
	for _, size := range []int{0, 1, 130, 511, 512, 513, 1024, maxBytes - 1, maxBytes, maxBytes + 1} {
		body := bytes.Repeat([]byte("x"), size)
		for _, hint := range []int64{-1, 0, int64(size), int64(size) / 2, int64(size) + 100} {
			for name, r := range map[string]func() io.Reader{
				"whole":   func() io.Reader { return bytes.NewReader(body) },
				"onebyte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(body)) },
				"dataerr": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(body)) },
			} {
				got, err := Read(r(), "", hint, maxBytes)
				if size > maxBytes {
					if err == nil || err.Code != CodeBodyTooLarge {
						t.Errorf("size %d hint %d %s: %v, want %s", size, hint, name, err, CodeBodyTooLarge)
					}
					continue
				}
				if err != nil || !bytes.Equal(got, body) {
					t.Errorf("size %d hint %d %s: got %d bytes, %v", size, hint, name, len(got), err)
				}
			}
		}
	}
	if _, err := Read(iotest.ErrReader(io.ErrUnexpectedEOF), "", 10, maxBytes); err == nil || err.Code != CodeReadFailed {
		t.Errorf("failing reader: %v, want %s", err, CodeReadFailed)
	}
}

// FuzzSplit checks that splitting never panics and agrees with
// encoding/json about which bodies are valid, and that elements are exact,
// valid sub-slices of the body.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[{"a":1},{"b":[1,2]}]`, `[]`, `[1,"x",null,true,false]`, `{"a":"\u00e9\n"}`,
		`{"a":1} x`, `[{"a":-0.5e+10}]`, "{\"a\":1}\n{\"b\":2}\n", `[[[[[[{}]]]]]]`, `{"a":"\ud800"}`, `"str"`, ``} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	limits := Limits{MaxBodyBytes: 1 << 20, MaxEvents: 1 << 20, MaxEventBytes: 1 << 20, MaxDepth: 8}
	f.Fuzz(func(t *testing.T, data []byte, ndjson bool) {
		format := JSON
		if ndjson {
			format = NDJSON
		}
		els, _, err := NewSplitter(limits).Split(data, format)
		for _, el := range els {
			if !bytes.Contains(data, el.Raw) {
				t.Fatalf("element %q is not a slice of the body", el.Raw)
			}
			if el.Issue == "" && !json.Valid(el.Raw) {
				t.Fatalf("element %q accepted but invalid JSON", el.Raw)
			}
			if el.Issue != IssueInvalid && !json.Valid(el.Raw) {
				t.Fatalf("element %q not flagged invalid", el.Raw)
			}
		}
		if format == JSON {
			trimmed := bytes.TrimPrefix(data, utf8BOM)
			valid := json.Valid(trimmed)
			if valid != (err == nil || (err.Code != CodeInvalidJSON && err.Code != CodeTrailingData && err.Code != CodeEmptyBody)) {
				t.Fatalf("json.Valid = %v but Split error = %v for %q", valid, err, data)
			}
		}
	})
}

// BenchmarkRead reads a typical single-event body with its Content-Length.
func BenchmarkRead(b *testing.B) {
	body := []byte(`{"clientId":"client_0042","metric":"api_call","amount":12.5,"timestamp":"2026-12-02T10:00:00.000Z","idempotencyKey":"k-1"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(bytes.NewReader(body), "", int64(len(body)), 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
