package normalize

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzNormalize: no input panics, and every result is well formed: a
// rejection has a known code, an event has a 64-hex id, valid UTF-8 fields,
// an in-range UTC timestamp that is in 1970 only when an epoch number (or
// text naming 1970) says so, and normalizes to itself. The same bytes are
// also read as CloudEvents and Segment input.
func FuzzNormalize(f *testing.F) {
	if in, err := os.ReadFile(filepath.Join("testdata", "corpus.ndjson")); err == nil {
		for _, line := range bytes.Split(in, []byte("\n")) {
			f.Add(line, "")
		}
	}
	for _, s := range benchCorpus() {
		f.Add(s, "")
	}
	f.Add([]byte(`{"source":"c","amount":1}`), "key")
	f.Add([]byte(`{"source":"c","amount":"1,000.5","ts":"2024-01-01T00:00:60+23:59"}`), "")
	f.Add([]byte(`{"a":{"a":{"a":[1,2,{"b":"\ud83d\ude00"}]}}}`), "")
	f.Add([]byte(strings.Repeat("[", 40)), "")
	f.Add([]byte(structuredCE), "")
	f.Add([]byte(segmentTrack), "")
	if tc, err := os.ReadFile(filepath.Join("testdata", "timestamps.txt")); err == nil {
		for _, line := range bytes.Split(tc, []byte("\n")) {
			if v, _, ok := bytes.Cut(line, []byte("\t")); ok {
				f.Add([]byte(`{"source":"c","amount":1,"timestamp":`+string(v)+`}`), "")
			}
		}
	}

	e, err := New(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	known := map[string]bool{}
	for _, c := range []string{CodeTooLarge, CodeInvalidUTF8, CodeInvalidJSON, CodeTooDeep, CodeDuplicateKey, CodeNotObject,
		CodeClientMissing, CodeClientInvalid, CodeMetricMissing, CodeMetricInvalid, CodeAmountMissing, CodeAmountInvalid,
		CodeAmountPrecision, CodeAmountRange, CodeAmountNegative, CodeTimestampMissing, CodeTimestampUnparseable,
		CodeTimestampAmbiguous, CodeTimestampOutOfRange, CodeIdempotencyKeyMissing, CodeIdempotencyKeyInvalid, CodeUnsupportedEvent} {
		known[c] = true
	}
	recv := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw []byte, key string) {
		// The same bytes read as every other format: no panic, a known code
		// or a well-formed event.
		attrs := map[string]string{"specversion": "1.0", "id": key, "source": "s", "type": "t", "time": key}
		for _, format := range []Format{FormatCloudEvent, FormatCloudEventBinary, FormatSegment} {
			ev, rej := e.Normalize(Input{Raw: raw, ReceivedAt: recv, Format: format, Attributes: attrs, SentAt: key})
			if rej != nil {
				if !known[rej.Code] || rej.Message == "" {
					t.Fatalf("%s: bad rejection %+v", format, rej)
				}
			} else if len(ev.EventID) != 64 || ev.ClientID == "" || ev.Timestamp.Year() < 1970 || ev.Timestamp.Year() >= 2100 {
				t.Fatalf("%s: bad event %+v", format, ev)
			}
		}
		ev, rej := e.Normalize(Input{Raw: raw, ReceivedAt: recv, IdempotencyKey: key})
		if rej != nil {
			if !known[rej.Code] || rej.Message == "" {
				t.Fatalf("bad rejection %+v", rej)
			}
			if rej.Code == CodeInvalidJSON && json.Valid(raw) && utf8.Valid(raw) {
				t.Fatalf("valid JSON rejected as invalid_json: %v", rej)
			}
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
		if len(ev.EventID) != 64 || strings.Trim(ev.EventID, "0123456789abcdef") != "" {
			t.Fatalf("bad id %q", ev.EventID)
		}
		if ev.ClientID == "" || ev.Metric == "" || !utf8.ValidString(ev.ClientID+ev.Metric+ev.IdempotencyKey) {
			t.Fatalf("bad fields %+v", ev)
		}
		if ev.Timestamp.Location() != time.UTC || ev.Timestamp.Year() < 1970 || ev.Timestamp.Year() >= 2100 ||
			ev.Timestamp.Nanosecond()%1e6 != 0 {
			t.Fatalf("bad timestamp %v", ev.Timestamp)
		}
		// Never a 1970 date from a timestamp that is not an epoch number,
		// unless the text itself names 1970 (or 1969 with an offset).
		if !ev.TimestampDefaulted && ev.Timestamp.Before(time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC)) {
			_, _, ex := e.Explain(Input{Raw: raw, ReceivedAt: recv, IdempotencyKey: key})
			if !strings.HasPrefix(ex.Timestamp.Rule, "epoch") && !bytes.Contains(raw, []byte("70")) && !bytes.Contains(raw, []byte("69")) {
				t.Fatalf("1970 from a non-epoch timestamp (%s): %q", ex.Timestamp.Rule, raw)
			}
		}
		js, _ := json.Marshal(ev)
		again, rej := e.Normalize(Input{Raw: js, ReceivedAt: recv.Add(time.Hour)})
		if rej != nil || again != ev {
			t.Fatalf("canonical JSON not a fixed point: %v\n%+v\n%+v", rej, ev, again)
		}
	})
}

// benchCorpus is a mixed, seed-like corpus: nested and flat shapes, string
// and numeric amounts, several timestamp formats, keys, and ~10% rejections.
func benchCorpus() [][]byte {
	lines := []string{
		`{"source":"client_A","payload":{"metric":"purchase","amount":"1200","timestamp":"2024/01/01"}}`,
		`{"client_id":"client_B","event_type":"click","value":500,"date":"2024-01-15T10:30:00Z"}`,
		`{"clientId":"client_C","metric":"api_call","amount":1,"timestamp":1704067200123}`,
		`{"source":"client_D","payload":{"type":"purchase","price":"$1,200.50","created_at":"2024-01-15T10:30:00.123+02:00"}}`,
		`{"client":"client_E","eventType":"signup","count":1,"ts":1704067200,"event_id":"evt-000123"}`,
		`{"origin":"client_F","name":"bytes_out","quantity":9007199254740993,"createdAt":"2024-01-15 10:30:00"}`,
		`{"source":"client_A","payload":{"metric":"purchase","amount":19.99,"timestamp":"2024-03-10T02:30:00Z","sku":"A-1","tags":["x","y"]}}`,
		`{"client_id":"client_B","event_type":"view","value":"42","time":"2024-01-15T10:30:00.5Z","meta":{"ua":"Mozilla/5.0","ip":"10.0.0.1"}}`,
		`{"source":"client_G","metric":"click","amount":3}`,
		`{"source":"client_H","amount":"abc","timestamp":"2024-01-01"}`,
	}
	out := make([][]byte, len(lines))
	for i, l := range lines {
		out[i] = []byte(l)
	}
	return out
}

func BenchmarkNormalize(b *testing.B) {
	e, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	corpus := benchCorpus()
	var bytesTotal int
	for _, c := range corpus {
		bytesTotal += len(c)
	}
	recv := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	b.SetBytes(int64(bytesTotal / len(corpus)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.Normalize(Input{Raw: corpus[i%len(corpus)], ReceivedAt: recv})
		i++
	}
}

func BenchmarkNormalizeParallel(b *testing.B) {
	e, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	corpus := benchCorpus()
	recv := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			e.Normalize(Input{Raw: corpus[i%len(corpus)], ReceivedAt: recv})
			i++
		}
	})
}
