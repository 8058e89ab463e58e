package normalize

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tally-dev/tally/event"
	"pgregory.net/rapid"
)

var received = time.Date(2024, 6, 1, 12, 0, 0, 123_456_789, time.UTC)

func newEngine(t testing.TB, mutate ...func(*Config)) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	for _, m := range mutate {
		m(cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func norm(e *Engine, raw string) (event.Canonical, *Rejection) {
	return e.Normalize(Input{Raw: []byte(raw), ReceivedAt: received})
}

// wantID recomputes the id from the package doc's definition, independently
// of the engine's code.
func wantID(kind byte, fields ...string) string {
	b := []byte("tally-id-v1\x00")
	b = append(b, kind)
	for _, f := range fields {
		if len(f) >= 128 {
			panic("test helper encodes short fields only")
		}
		b = append(b, byte(len(f)))
		b = append(b, f...)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func ms(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func TestSeedExamples(t *testing.T) {
	e := newEngine(t)
	cases := []struct {
		name string
		raw  string
		want event.Canonical
	}{
		{
			name: "example 1: nested payload, string amount, slash date",
			raw:  `{"source":"client_A","payload":{"metric":"purchase","amount":"1200","timestamp":"2024/01/01"}}`,
			want: event.Canonical{
				EventID:  wantID('C', "client_A", "purchase", "1200", ms("2024-01-01T00:00:00Z")),
				ClientID: "client_A", Metric: "purchase", Amount: event.Amount{Units: 1200},
				Timestamp: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
			},
		},
		{
			name: "example 2: flat structure",
			raw:  `{"client_id":"client_B","event_type":"click","value":500,"date":"2024-01-15T10:30:00Z"}`,
			want: event.Canonical{
				EventID:  wantID('C', "client_B", "click", "500", ms("2024-01-15T10:30:00Z")),
				ClientID: "client_B", Metric: "click", Amount: event.Amount{Units: 500},
				Timestamp: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
			},
		},
		{
			name: "missing metric defaults to unknown, missing timestamp to received",
			raw:  `{"client":"c","count":3}`,
			want: event.Canonical{
				EventID:  wantID('D', "c", "unknown", "3"),
				ClientID: "c", Metric: "unknown", Amount: event.Amount{Units: 3},
				Timestamp: received.Truncate(time.Millisecond), TimestampDefaulted: true,
			},
		},
		{
			name: "idempotency key field",
			raw:  `{"origin":"c","name":"signup","total":"1.5","ts":1704067200,"event_id":"abc-1"}`,
			want: event.Canonical{
				EventID:  wantID('K', "c", "abc-1"),
				ClientID: "c", Metric: "signup", Amount: event.Amount{Units: 1, Nanos: 500_000_000},
				Timestamp: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), IdempotencyKey: "abc-1",
			},
		},
		{
			name: "dotted path and trimming",
			raw:  `{"clientId":"  c  ","payload":{"type":"m","data":{"attributes":{"value":7}}},"createdAt":"2024-01-01t00:00:00z"}`,
			want: event.Canonical{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, rej := norm(e, tc.raw)
			if tc.want.EventID == "" { // dotted paths need a config; here: amount_missing
				if rej == nil || rej.Code != CodeAmountMissing || rej.ClientHint != "c" {
					t.Fatalf("got %+v, %v; want amount_missing with hint c", got, rej)
				}
				return
			}
			if rej != nil {
				t.Fatalf("rejected: %v", rej)
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSeedResendIsSameEvent(t *testing.T) {
	e := newEngine(t)
	a, _ := norm(e, `{"source":"client_A","payload":{"metric":"purchase","amount":"1200","timestamp":"2024/01/01"}}`)
	b, _ := e.Normalize(Input{Raw: []byte(`{"payload":{"timestamp":"2024-01-01T00:00:00Z","amount":1.2e3,"metric":"purchase"},"source":"client_A"}`), ReceivedAt: received.Add(time.Hour)})
	if a.EventID == "" || a.EventID != b.EventID {
		t.Fatalf("resend got a new id: %s vs %s", a.EventID, b.EventID)
	}
}

func TestDottedPathsAndScopes(t *testing.T) {
	e := newEngine(t, func(c *Config) {
		c.Fields.Amount.Aliases = append(c.Fields.Amount.Aliases, "data.attributes.value")
		c.Scopes = append(c.Scopes, "envelope.body")
	})
	got, rej := norm(e, `{"clientId":"  c  ","payload":{"type":"m","data":{"attributes":{"value":7}}},"createdAt":"2024-01-01t00:00:00z"}`)
	if rej != nil {
		t.Fatal(rej)
	}
	if got.ClientID != "c" || got.Metric != "m" || got.Amount.String() != "7" || !got.Timestamp.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %+v", got)
	}
	got2, rej := norm(e, `{"envelope":{"body":{"source":"c","metric":"m","amount":7,"time":"2024-01-01"}}}`)
	if rej != nil {
		t.Fatal(rej)
	}
	if got2.EventID != got.EventID {
		t.Fatalf("same event in another scope got another id")
	}
	// Alias order beats scope order: payload.metric outranks top-level type.
	got3, _ := norm(e, `{"source":"c","type":"track","payload":{"metric":"purchase"},"amount":1}`)
	if got3.Metric != "purchase" {
		t.Fatalf("metric = %q, want purchase (alias order wins over scope order)", got3.Metric)
	}
	// Same alias in two scopes: the top level wins.
	got4, _ := norm(e, `{"source":"c","metric":"top","payload":{"metric":"nested"},"amount":1}`)
	if got4.Metric != "top" {
		t.Fatalf("metric = %q, want top", got4.Metric)
	}
}

func TestAmounts(t *testing.T) {
	e := newEngine(t)
	cases := []struct {
		value string // JSON text of the amount
		want  string // canonical amount, or a rejection code
	}{
		{`"1200"`, "1200"}, {`1200`, "1200"}, {`1200.0`, "1200"}, {`"1,200"`, "1200"},
		{`"$1,200.50"`, "1200.5"}, {`"1e3"`, "1000"}, {`" 42 "`, "42"}, {`1e3`, "1000"},
		{`1.2E+3`, "1200"}, {`"-$5"`, "-5"}, {`"$-5"`, "-5"}, {`"€3.25"`, "3.25"},
		{`"1,234,567.891"`, "1234567.891"}, {`-0`, "0"}, {`"-0.0"`, "0"}, {`0.000000001`, "0.000000001"},
		{`9007199254740993`, "9007199254740993"}, {`"9007199254740993"`, "9007199254740993"},
		{`9223372036854775807`, "9223372036854775807"}, {`-9223372036854775807.999999999`, "-9223372036854775807.999999999"},
		{`1.0000000000000000000000000000000000000000000000000`, "1"}, {`100e-11`, "0.000000001"},
		{`12345678901234567890e-10`, "1234567890.123456789"}, {`0e-400`, "0"}, {`".5"`, "0.5"},
		{`0.1e1`, "1"}, {`"000123"`, "123"},

		{`1e-400`, CodeAmountPrecision}, {`0.0000000001`, CodeAmountPrecision}, {`"1.0000000001"`, CodeAmountPrecision},
		{`9223372036854775808`, CodeAmountRange}, {`1e19`, CodeAmountRange}, {`1e400`, CodeAmountRange},
		{`-9223372036854775808`, CodeAmountRange}, {`1e99999999999999999999`, CodeAmountRange},
		{`true`, CodeAmountInvalid}, {`false`, CodeAmountInvalid}, {`null`, CodeAmountInvalid}, {`[1]`, CodeAmountInvalid},
		{`{"v":1}`, CodeAmountInvalid}, {`"NaN"`, CodeAmountInvalid}, {`"Infinity"`, CodeAmountInvalid}, {`"-Infinity"`, CodeAmountInvalid},
		{`""`, CodeAmountInvalid}, {`" "`, CodeAmountInvalid}, {`"0x10"`, CodeAmountInvalid}, {`"1,2"`, CodeAmountInvalid},
		{`"1,2345"`, CodeAmountInvalid}, {`"1234,567"`, CodeAmountInvalid}, {`",123"`, CodeAmountInvalid}, {`"1.2.3"`, CodeAmountInvalid},
		{`"12 USD"`, CodeAmountInvalid}, {`"--5"`, CodeAmountInvalid}, {`"1e"`, CodeAmountInvalid}, {`"."`, CodeAmountInvalid},
		{`"$"`, CodeAmountInvalid}, {`"1.000,5"`, CodeAmountInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			got, rej := norm(e, `{"source":"c","amount":`+tc.value+`,"ts":1704067200}`)
			switch {
			case rej != nil && rej.Code == tc.want:
				if rej.Field != "amount" {
					t.Fatalf("field = %q", rej.Field)
				}
			case rej != nil:
				t.Fatalf("rejected %v, want %s", rej, tc.want)
			case got.Amount.String() != tc.want:
				t.Fatalf("amount = %s, want %s", got.Amount, tc.want)
			}
		})
	}
}

func TestNegativeAmountsCanBeRefused(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Amount.AllowNegative = false })
	if _, rej := norm(e, `{"source":"c","amount":"-1","ts":1}`); rej == nil || rej.Code != CodeAmountNegative {
		t.Fatalf("got %v", rej)
	}
	if _, rej := norm(e, `{"source":"c","amount":"-0","ts":1}`); rej != nil {
		t.Fatalf("-0 is zero, got %v", rej)
	}
}

func TestTimestamps(t *testing.T) {
	e := newEngine(t)
	utc := func(y, mo, d, h, mi, s, msec int) string {
		return time.Date(y, time.Month(mo), d, h, mi, s, msec*1e6, time.UTC).Format(time.RFC3339Nano)
	}
	cases := []struct {
		value string
		want  string // RFC 3339 UTC, or a rejection code
	}{
		{`"2024-01-15T10:30:00Z"`, utc(2024, 1, 15, 10, 30, 0, 0)},
		{`"2024-01-15t10:30:00z"`, utc(2024, 1, 15, 10, 30, 0, 0)},
		{`"2024-01-15 10:30:00"`, utc(2024, 1, 15, 10, 30, 0, 0)},
		{`"2024-01-15T10:30"`, utc(2024, 1, 15, 10, 30, 0, 0)},
		{`"2024/01/01"`, utc(2024, 1, 1, 0, 0, 0, 0)},
		{`"2024/1/5"`, utc(2024, 1, 5, 0, 0, 0, 0)},
		{`"2024-01-01"`, utc(2024, 1, 1, 0, 0, 0, 0)},
		{`" 2024-01-01 "`, utc(2024, 1, 1, 0, 0, 0, 0)},
		{`"2024-01-15T10:30:00.123456789Z"`, utc(2024, 1, 15, 10, 30, 0, 123)},
		{`"2024-01-15T10:30:00,5Z"`, utc(2024, 1, 15, 10, 30, 0, 500)},
		{`"2024-01-15T12:30:00+02:00"`, utc(2024, 1, 15, 10, 30, 0, 0)},
		{`"2024-01-15T05:00:00-0530"`, utc(2024, 1, 15, 10, 30, 0, 0)},
		{`"2024-01-15T12:30:00+02"`, utc(2024, 1, 15, 10, 30, 0, 0)},
		{`"2024-01-15T10:30:00-00:00"`, utc(2024, 1, 15, 10, 30, 0, 0)},
		{`"2024-02-29"`, utc(2024, 2, 29, 0, 0, 0, 0)},
		{`"2016-12-31T23:59:60Z"`, utc(2016, 12, 31, 23, 59, 59, 999)},
		{`"2016-12-31T23:59:60.5Z"`, utc(2016, 12, 31, 23, 59, 59, 999)},
		{`"Mon, 15 Jan 2024 10:30:00 +0000"`, utc(2024, 1, 15, 10, 30, 0, 0)},
		{`"Jan 15, 2024"`, utc(2024, 1, 15, 0, 0, 0, 0)},
		{`1704067200`, utc(2024, 1, 1, 0, 0, 0, 0)},
		{`1704067200123`, utc(2024, 1, 1, 0, 0, 0, 123)},
		{`1704067200123456`, utc(2024, 1, 1, 0, 0, 0, 123)},
		{`1704067200123456789`, utc(2024, 1, 1, 0, 0, 0, 123)},
		{`1704067200.9999`, utc(2024, 1, 1, 0, 0, 0, 999)},
		{`1.7040672e9`, utc(2024, 1, 1, 0, 0, 0, 0)},
		{`"1704067200"`, utc(2024, 1, 1, 0, 0, 0, 0)},
		{`"1704067200123"`, utc(2024, 1, 1, 0, 0, 0, 123)},
		{`0`, utc(1970, 1, 1, 0, 0, 0, 0)},

		{`"2024-02-30"`, CodeTimestampUnparseable},
		{`"2023-02-29"`, CodeTimestampUnparseable},
		{`"2024-13-01"`, CodeTimestampUnparseable},
		{`"2024-01-01T24:00:00Z"`, CodeTimestampUnparseable},
		{`"2024-01-01T10:60:00Z"`, CodeTimestampUnparseable},
		{`"2024-01-01T10:30:60Z"`, CodeTimestampUnparseable},
		{`"2024-01-01T10:00:00+24:00"`, CodeTimestampUnparseable},
		{`"2024-01-01T10:00:00+01:60"`, CodeTimestampUnparseable},
		{`"2024-01-01T10:00:00.Z"`, CodeTimestampUnparseable},
		{`"2024-01-01T10:00:00.1234567891Z"`, CodeTimestampUnparseable},
		{`"not a date"`, CodeTimestampUnparseable},
		{`""`, CodeTimestampUnparseable},
		{`"now"`, CodeTimestampUnparseable},
		{`true`, CodeTimestampUnparseable},
		{`null`, CodeTimestampUnparseable},
		{`{}`, CodeTimestampUnparseable},
		{`"01/02/2024"`, CodeTimestampAmbiguous},
		{`"13/02/2024"`, utc(2024, 2, 13, 0, 0, 0, 0)},
		{`"1.2.2024"`, CodeTimestampAmbiguous},
		{`"01-02-24 10:00"`, CodeTimestampAmbiguous},
		{`"2100-01-01T00:00:00Z"`, CodeTimestampOutOfRange},
		{`"9999-12-31T23:59:59Z"`, CodeTimestampOutOfRange},
		{`"1969-12-31T23:59:59.999Z"`, CodeTimestampOutOfRange},
		{`"+10000-01-01"`, CodeTimestampUnparseable},
		{`-1`, CodeTimestampOutOfRange},
		{`1e30`, CodeTimestampOutOfRange},
		{`99999999999999999999`, CodeTimestampOutOfRange},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			got, rej := norm(e, `{"source":"c","amount":1,"timestamp":`+tc.value+`}`)
			switch {
			case rej != nil && rej.Code == tc.want:
				if rej.Field != "timestamp" {
					t.Fatalf("field = %q", rej.Field)
				}
			case rej != nil:
				t.Fatalf("rejected %v, want %s", rej, tc.want)
			case got.Timestamp.Format(time.RFC3339Nano) != tc.want:
				t.Fatalf("timestamp = %s, want %s", got.Timestamp.Format(time.RFC3339Nano), tc.want)
			case got.Timestamp.Location() != time.UTC || got.TimestampDefaulted:
				t.Fatalf("timestamp %v not UTC or marked defaulted", got.Timestamp)
			}
		})
	}
}

func TestAmbiguousDatesFollowConfiguredLayout(t *testing.T) {
	us := newEngine(t, func(c *Config) { c.Timestamp.Layouts = []string{"01/02/2006"} })
	eu := newEngine(t, func(c *Config) { c.Timestamp.Layouts = []string{"02/01/2006"} })
	raw := `{"source":"c","amount":1,"date":"01/02/2024"}`
	a, rej := norm(us, raw)
	if rej != nil || a.Timestamp.Month() != time.January || a.Timestamp.Day() != 2 {
		t.Fatalf("month-first layout: %v %v", a.Timestamp, rej)
	}
	b, rej := norm(eu, raw)
	if rej != nil || b.Timestamp.Month() != time.February || b.Timestamp.Day() != 1 {
		t.Fatalf("day-first layout: %v %v", b.Timestamp, rej)
	}
}

func TestZoneLessTextUsesConfiguredZone(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Timestamp.Timezone = "America/New_York" })
	got, rej := norm(e, `{"source":"c","amount":1,"date":"2024-01-15 10:30:00"}`)
	if rej != nil {
		t.Fatal(rej)
	}
	if want := time.Date(2024, 1, 15, 15, 30, 0, 0, time.UTC); !got.Timestamp.Equal(want) || got.Timestamp.Location() != time.UTC {
		t.Fatalf("got %v, want %v", got.Timestamp, want)
	}
	// An explicit offset is not affected by the zone.
	got, _ = norm(e, `{"source":"c","amount":1,"date":"2024-01-15T10:30:00Z"}`)
	if !got.Timestamp.Equal(time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)) {
		t.Fatalf("got %v", got.Timestamp)
	}
}

func TestMissingTimestampPolicy(t *testing.T) {
	raw := []byte(`{"source":"c","amount":1,"metric":"m"}`)
	e := newEngine(t)
	a, rej := e.Normalize(Input{Raw: raw, ReceivedAt: received})
	if rej != nil {
		t.Fatal(rej)
	}
	b, _ := e.Normalize(Input{Raw: raw, ReceivedAt: received.Add(24 * time.Hour)})
	if !a.TimestampDefaulted || !a.Timestamp.Equal(received.Truncate(time.Millisecond)) {
		t.Fatalf("got %+v", a)
	}
	if a.EventID != b.EventID || a.EventID != wantID('D', "c", "m", "1") {
		t.Fatalf("resent timestamp-less event changed id")
	}
	if _, rej := e.Normalize(Input{Raw: raw}); rej == nil || rej.Code != CodeTimestampMissing {
		t.Fatalf("zero ReceivedAt: got %v", rej)
	}
	strict := newEngine(t, func(c *Config) { c.Timestamp.Missing = MissingReject })
	if _, rej := strict.Normalize(Input{Raw: raw, ReceivedAt: received}); rej == nil || rej.Code != CodeTimestampMissing || rej.Field != "timestamp" {
		t.Fatalf("reject policy: got %v", rej)
	}
}

func TestIdempotencyKeys(t *testing.T) {
	e := newEngine(t)
	base := `{"source":"c","amount":1,"ts":1704067200`
	withHeader := func(raw, key string) (event.Canonical, *Rejection) {
		return e.Normalize(Input{Raw: []byte(raw), ReceivedAt: received, IdempotencyKey: key})
	}
	a, _ := withHeader(base+`}`, "k1")
	b, _ := withHeader(`{"source":"c","amount":999,"ts":1}`, "k1")
	if a.EventID != wantID('K', "c", "k1") || a.EventID != b.EventID || a.IdempotencyKey != "k1" {
		t.Fatalf("header key: %+v %+v", a, b)
	}
	c, _ := withHeader(base+`,"event_id":"other"}`, "k1")
	if c.EventID != a.EventID {
		t.Fatal("header key must win over the payload key")
	}
	n1, _ := norm(e, base+`,"eventId":12345}`)
	n2, _ := norm(e, base+`,"eventId":"12345"}`)
	if n1.EventID != n2.EventID || n1.IdempotencyKey != "12345" {
		t.Fatalf("integer key and its string differ: %+v %+v", n1, n2)
	}
	other, _ := norm(e, `{"source":"d","amount":1,"ts":1704067200,"eventId":"12345"}`)
	if other.EventID == n1.EventID {
		t.Fatal("keys must be scoped to the client")
	}
	for _, bad := range []string{`1.5`, `true`, `null`, `""`, `"a\u0000b"`, `[1]`} {
		if _, rej := norm(e, base+`,"idempotency_key":`+bad+`}`); rej == nil || rej.Code != CodeIdempotencyKeyInvalid {
			t.Errorf("key %s: got %v", bad, rej)
		}
	}
	if _, rej := withHeader(base+`}`, strings.Repeat("k", 257)); rej == nil || rej.Code != CodeIdempotencyKeyInvalid {
		t.Errorf("long header key: got %v", rej)
	}
	req := newEngine(t, func(c *Config) { c.Fields.IdempotencyKey.Required = true })
	if _, rej := norm(req, base+`}`); rej == nil || rej.Code != CodeIdempotencyKeyMissing {
		t.Errorf("required key: got %v", rej)
	}
}

func TestRejections(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Limits.MaxBytes = 4096 })
	deep := strings.Repeat(`{"a":`, 32) + `1` + strings.Repeat(`}`, 32)
	tooDeep := strings.Repeat(`[`, 33) + strings.Repeat(`]`, 33)
	cases := []struct {
		raw, code, field, hint string
	}{
		{`{"source":"c","amount":1} x`, CodeInvalidJSON, "", ""},
		{`{"source":"c","amount":1}{}`, CodeInvalidJSON, "", ""},
		{``, CodeInvalidJSON, "", ""},
		{`{"source":"c","amount":NaN}`, CodeInvalidJSON, "", ""},
		{`{"source":"c","amount":Infinity}`, CodeInvalidJSON, "", ""},
		{`{"source":"c","amount":01}`, CodeInvalidJSON, "", ""},
		{`{"source":"c","amount":1.}`, CodeInvalidJSON, "", ""},
		{`{"source":"c\x01","amount":1}`, CodeInvalidJSON, "", ""},
		{"{\"source\":\"c\t\",\"amount\":1}", CodeInvalidJSON, "", ""},
		{`{"source":"\q","amount":1}`, CodeInvalidJSON, "", ""},
		{`{'source':"c"}`, CodeInvalidJSON, "", ""},
		{`{"source":"c",}`, CodeInvalidJSON, "", ""},
		{`{"source":"c"`, CodeInvalidJSON, "", ""},
		{"{\"source\":\"\xff\",\"amount\":1}", CodeInvalidUTF8, "", ""},
		{`{"source":"\ud800","amount":1}`, CodeInvalidUTF8, "", ""},
		{`{"source":"\udc00x","amount":1}`, CodeInvalidUTF8, "", ""},
		{`{"a":1,"a":2}`, CodeDuplicateKey, "", ""},
		{`{"a":1,"\u0061":2}`, CodeDuplicateKey, "", ""},
		{`{"source":"c","payload":{"x":[{"k":1,"k":1}]}}`, CodeDuplicateKey, "", ""},
		{tooDeep, CodeTooDeep, "", ""},
		{`{"x":"` + strings.Repeat("a", 4096) + `"}`, CodeTooLarge, "", ""},
		{`[]`, CodeNotObject, "", ""},
		{`"str"`, CodeNotObject, "", ""},
		{`null`, CodeNotObject, "", ""},
		{`{"amount":1}`, CodeClientMissing, "clientId", ""},
		{`{"source":"","amount":1}`, CodeClientInvalid, "clientId", ""},
		{`{"source":"   ","amount":1}`, CodeClientInvalid, "clientId", ""},
		{`{"source":4.2,"amount":1}`, CodeClientInvalid, "clientId", ""},
		{`{"source":1e3,"amount":1}`, CodeClientInvalid, "clientId", ""},
		{`{"source":true,"amount":1}`, CodeClientInvalid, "clientId", ""},
		{`{"source":{"id":1},"amount":1}`, CodeClientInvalid, "clientId", ""},
		{`{"source":null,"amount":1}`, CodeClientInvalid, "clientId", ""},
		{`{"source":"a\u0007b","amount":1}`, CodeClientInvalid, "clientId", "a\u0007b"},
		{`{"source":"` + strings.Repeat("x", 257) + `","amount":1}`, CodeClientInvalid, "clientId", strings.Repeat("x", 256)},
		{`{"source":"c","metric":5.5,"amount":1}`, CodeMetricInvalid, "metric", "c"},
		{`{"source":"c","metric":false,"amount":1}`, CodeMetricInvalid, "metric", "c"},
		{`{"source":"c","metric":[1],"amount":1}`, CodeMetricInvalid, "metric", "c"},
		{`{"source":"c","metric":"","amount":1}`, CodeMetricInvalid, "metric", "c"},
		{`{"source":"c"}`, CodeAmountMissing, "amount", "c"},
		{`{"source":"c","payload":"{\"amount\":1}"}`, CodeAmountMissing, "amount", "c"},
	}
	for _, tc := range cases {
		t.Run(tc.code+" "+trunc(tc.raw), func(t *testing.T) {
			got, rej := norm(e, tc.raw)
			if rej == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if rej.Code != tc.code || rej.Field != tc.field || rej.ClientHint != tc.hint {
				t.Fatalf("got %+v, want code %s field %q hint %q", rej, tc.code, tc.field, tc.hint)
			}
			if rej.Message == "" || !strings.HasPrefix(rej.Error(), tc.code) {
				t.Fatalf("bad message/Error: %q", rej.Error())
			}
		})
	}
	if _, rej := norm(e, deep); rej == nil || rej.Code != CodeClientMissing {
		t.Fatalf("depth 32 must pass the depth check, got %v", rej)
	}
	// A huge object still finds duplicates (map path) and accepts distinct keys.
	var b strings.Builder
	b.WriteString(`{"source":"c","amount":1,"ts":1`)
	for i := range 200 {
		b.WriteString(`,"k` + strconv.Itoa(i) + `":1`)
	}
	if _, rej := norm(e, b.String()+`}`); rej != nil {
		t.Fatalf("distinct keys: %v", rej)
	}
	if _, rej := norm(e, b.String()+`,"k150":2}`); rej == nil || rej.Code != CodeDuplicateKey {
		t.Fatalf("late duplicate: %v", rej)
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

func TestProfiles(t *testing.T) {
	e := newEngine(t, func(c *Config) {
		c.Profiles = []Profile{{
			Name:           "legacy",
			ClientIDs:      []string{"client_C"},
			Aliases:        ProfileAliases{Amount: []string{"amount_cents"}, Metric: []string{"kind"}},
			AmountExponent: -2,
			Timezone:       "Asia/Tokyo",
		}}
	})
	got, rej := norm(e, `{"source":"client_C","kind":"purchase","amount_cents":"1,250","amount":999,"time":"2024-01-01 09:00:00"}`)
	if rej != nil {
		t.Fatal(rej)
	}
	if got.Amount.String() != "12.5" || got.Metric != "purchase" || !got.Timestamp.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("profile not applied: %+v", got)
	}
	// Global aliases still work for the profiled client, with its scale.
	got, _ = norm(e, `{"source":"client_C","amount":5,"time":"2024-01-01T00:00:00Z"}`)
	if got.Amount.String() != "0.05" {
		t.Fatalf("amount = %s, want 0.05", got.Amount)
	}
	if _, rej := norm(e, `{"source":"client_C","amount":"0.000000005","ts":1}`); rej == nil || rej.Code != CodeAmountPrecision {
		t.Fatalf("scaling beyond 9 digits must be a precision rejection, got %v", rej)
	}
	// Other clients do not get the profile.
	got, _ = norm(e, `{"source":"client_D","kind":"x","amount_cents":1,"amount":5,"ts":1704067200}`)
	if got.Amount.String() != "5" || got.Metric != "unknown" {
		t.Fatalf("profile leaked: %+v", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := newEngine(t)
	corpus := benchCorpus()
	want := make([]string, len(corpus))
	for i, raw := range corpus {
		ev, rej := e.Normalize(Input{Raw: raw, ReceivedAt: received})
		want[i] = ev.EventID
		if rej != nil {
			want[i] = rej.Code
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				for i, raw := range corpus {
					ev, rej := e.Normalize(Input{Raw: raw, ReceivedAt: received})
					got := ev.EventID
					if rej != nil {
						got = rej.Code
					}
					if got != want[i] {
						t.Errorf("event %d: %s, want %s", i, got, want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestResultDoesNotAliasInput(t *testing.T) {
	e := newEngine(t)
	raw := []byte(`{"source":"client_A","metric":"m","amount":1,"ts":1704067200,"event_id":"key"}`)
	ev, rej := e.Normalize(Input{Raw: raw, ReceivedAt: received})
	if rej != nil {
		t.Fatal(rej)
	}
	for i := range raw {
		raw[i] = 'x'
	}
	e.Normalize(Input{Raw: []byte(`{"source":"zzzzzzzz","metric":"q","amount":2,"ts":1}`), ReceivedAt: received})
	if ev.ClientID != "client_A" || ev.Metric != "m" || ev.IdempotencyKey != "key" {
		t.Fatalf("result changed with the input buffer: %+v", ev)
	}
}

func TestAppendAmountMatchesString(t *testing.T) {
	for _, a := range []event.Amount{{}, {Units: 1}, {Units: -1}, {Nanos: 1}, {Nanos: -1}, {Units: 12, Nanos: 500_000_000},
		{Units: -9223372036854775808}, {Units: 9223372036854775807, Nanos: 999_999_999}, {Units: -3, Nanos: -10}} {
		if got, want := string(appendAmount(nil, a)), a.String(); got != want {
			t.Errorf("appendAmount(%+v) = %s, want %s", a, got, want)
		}
	}
}

func TestPropertyCivilDates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		y := rapid.IntRange(0, 9999).Draw(t, "y")
		m := rapid.IntRange(1, 12).Draw(t, "m")
		d := rapid.IntRange(1, daysIn(m, y)).Draw(t, "d")
		want := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400
		if got := daysFromCivil(y, m, d); got != want {
			t.Fatalf("%04d-%02d-%02d: %d days, want %d", y, m, d, got, want)
		}
	})
}

// A client id or metric sent as a JSON integer is its decimal text, and the
// event hashes exactly like the one that sent the text.
func TestNumericIDs(t *testing.T) {
	e := newEngine(t)
	num, rej := norm(e, `{"client_id":42,"metric":7,"amount":1,"ts":1704067200}`)
	if rej != nil {
		t.Fatal(rej)
	}
	str, _ := norm(e, `{"client_id":"42","metric":"7","amount":1,"ts":1704067200}`)
	if num != str || num.ClientID != "42" || num.Metric != "7" ||
		num.EventID != wantID('C', "42", "7", "1", "1704067200000") {
		t.Fatalf("numeric ids: %+v vs %+v", num, str)
	}
	keyed, _ := norm(e, `{"client_id":-9007199254740993,"amount":1,"event_id":"k"}`)
	if keyed.ClientID != "-9007199254740993" || keyed.EventID != wantID('K', "-9007199254740993", "k") {
		t.Fatalf("big negative client id: %+v", keyed)
	}
	for _, c := range []struct{ raw, code, msg string }{
		{`{"client_id":4.2,"amount":1}`, CodeClientInvalid, "fraction or an exponent"},
		{`{"client_id":42,"metric":1e2,"amount":1}`, CodeMetricInvalid, "fraction or an exponent"},
		{`{"client_id":false,"amount":1}`, CodeClientInvalid, "got a boolean"},
		{`{"client_id":42,"metric":{},"amount":1}`, CodeMetricInvalid, "got an object"},
	} {
		if _, rej := norm(e, c.raw); rej == nil || rej.Code != c.code || !strings.Contains(rej.Message, c.msg) {
			t.Errorf("%s: got %v, want %s (%s)", c.raw, rej, c.code, c.msg)
		}
	}
}
