package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"pgregory.net/rapid"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/ingestor/internal/ingest"
)

// trickyStrings are the inputs where encoding/json does more than copy:
// JSON's own escapes, its HTML escaping, the JavaScript line separators,
// DEL, multi-byte UTF-8 and every kind of invalid UTF-8 (lone
// continuation, truncated sequence, overlong form, surrogate, beyond
// U+10FFFF).
var trickyStrings = []string{
	"", "a", "accepted", "<", ">", "&", `"`, `\`, "</script>", "a&b", "\x00", "\x01", "\b", "\t", "\n", "\f", "\r",
	"\x1b", "\x1f", "\x7f", "\u0080", "\u2028", "\u2029", "x\u2028y", "é", "日本", "😀", "\ufffd", "\ufeff",
	"\x80", "\xbf", "\xc3", "\xe2\x80", "\xf0\x9f\x98", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
	"\xff", "\xfe\xff", "ok\xffok", "\xe2\x80\xa8\xff",
}

// jsonStrings draws strings for every field: pieces of plain ASCII, tricky
// strings, arbitrary runes and arbitrary bytes, joined so that escapes
// land after a plain prefix too.
func jsonStrings() *rapid.Generator[string] {
	piece := rapid.OneOf(
		rapid.SampledFrom(trickyStrings),
		rapid.StringMatching(`[a-zA-Z0-9 _.:/=+-]{0,16}`),
		rapid.String(),
		rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, 8), func(b []byte) string { return string(b) }),
	)
	return rapid.Map(rapid.SliceOfN(piece, 0, 4), func(ps []string) string { return strings.Join(ps, "") })
}

func errorDetails(str *rapid.Generator[string]) *rapid.Generator[*errorDetail] {
	return rapid.Ptr(rapid.Custom(func(t *rapid.T) errorDetail {
		return errorDetail{Code: str.Draw(t, "code"), Message: str.Draw(t, "message"), Field: str.Draw(t, "field")}
	}), true)
}

func v1Responses() *rapid.Generator[v1Response] {
	str := jsonStrings()
	result := rapid.Custom(func(t *rapid.T) v1Result {
		return v1Result{
			Index:          rapid.Int().Draw(t, "index"),
			EventID:        str.Draw(t, "eventId"),
			IdempotencyKey: str.Draw(t, "idempotencyKey"),
			IDSource:       str.Draw(t, "idSource"),
			CoarseID:       rapid.Bool().Draw(t, "coarseId"),
			Status:         str.Draw(t, "status"),
			Duplicate:      rapid.Ptr(rapid.Bool(), true).Draw(t, "duplicate"),
			Conflict:       rapid.Bool().Draw(t, "conflict"),
			Error:          errorDetails(str).Draw(t, "resultError"),
		}
	})
	return rapid.Custom(func(t *rapid.T) v1Response {
		resp := v1Response{
			Error:    errorDetails(str).Draw(t, "error"),
			Accepted: rapid.Int().Draw(t, "accepted"),
			Rejected: rapid.Int().Draw(t, "rejected"),
			Failed:   rapid.Int().Draw(t, "failed"),
		}
		// nil encodes as null and empty as []: both must match Marshal.
		switch rapid.SampledFrom([]string{"nil", "empty", "some"}).Draw(t, "results") {
		case "empty":
			resp.Results = []v1Result{}
		case "some":
			resp.Results = rapid.SliceOfN(result, 1, 12).Draw(t, "some")
		}
		return resp
	})
}

// fataler is what equalMarshal needs of *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// equalMarshal fails t unless got is json.Marshal(v).
func equalMarshal(t fataler, got []byte, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding differs from json.Marshal\n got: %q\nwant: %q", got, want)
	}
}

func TestAppendV1ResponseIsMarshal(t *testing.T) {
	responses := v1Responses()
	rapid.Check(t, func(t *rapid.T) {
		resp := responses.Draw(t, "resp")
		equalMarshal(t, appendV1Response(nil, &resp), resp)

		seg := segmentResponse{Success: rapid.Bool().Draw(t, "success"), v1Response: resp}
		equalMarshal(t, appendSegmentResponse(nil, &seg), seg)

		// Appending keeps what dst held.
		prefix := []byte("prefix")
		got := appendV1Response(prefix, &resp)
		if !bytes.HasPrefix(got, []byte("prefix")) {
			t.Fatalf("appendV1Response overwrote dst: %q", got)
		}
		equalMarshal(t, got[len(prefix):], resp)
	})
}

func TestAppendJSONStringIsMarshal(t *testing.T) {
	for _, s := range trickyStrings {
		equalMarshal(t, appendJSONString(nil, s), s)
		equalMarshal(t, appendJSONString(nil, "plain "+s+" plain"), "plain "+s+" plain")
	}
	for b := range 256 {
		s := string([]byte{byte(b)})
		equalMarshal(t, appendJSONString(nil, s), s)
	}
	rapid.Check(t, func(t *rapid.T) {
		s := jsonStrings().Draw(t, "s")
		equalMarshal(t, appendJSONString(nil, s), s)
	})
}

// TestV1ResultsAlwaysArray keeps the documented shape: results is an
// array even when there are none (a nil slice would encode as null).
func TestV1ResultsAlwaysArray(t *testing.T) {
	resp := newV1Response(ingest.Outcome{})
	got := string(appendV1Response(nil, &resp))
	if want := `{"accepted":0,"rejected":0,"failed":0,"results":[]}`; got != want {
		t.Fatalf("empty outcome encodes as %s, want %s", got, want)
	}
}

// TestWriteV1ResponseMatchesGinJSON compares the handler's writers with
// the c.JSON they replace: status, Content-Type and body are the same.
// (c.Data also sets Content-Length, which net/http otherwise sets itself
// only for bodies that fit its 2 KB buffer.)
func TestWriteV1ResponseMatchesGinJSON(t *testing.T) {
	for _, n := range []int{0, 1, 500} {
		resp := newV1Response(benchOutcome(n))
		for _, status := range []int{http.StatusOK, http.StatusAccepted, http.StatusServiceUnavailable} {
			if status == http.StatusServiceUnavailable {
				resp.Error = &errorDetail{Code: ingest.CodeUnavailable, Message: "not <acknowledged> & \u2028 retried"}
			}
			seg := segmentResponse{Success: status != http.StatusServiceUnavailable, v1Response: resp}
			h := &handler{}
			cases := []struct {
				name      string
				write     func(*gin.Context)
				reference any
			}{
				{"v1", func(c *gin.Context) { h.writeV1Response(c, status, &resp) }, resp},
				{"segment", func(c *gin.Context) { h.writeSegmentResponse(c, status, &seg) }, seg},
			}
			for _, tc := range cases {
				want := httptest.NewRecorder()
				wc, _ := gin.CreateTestContext(want)
				wc.JSON(status, tc.reference)
				// Twice, so the second write reuses a pooled buffer.
				for range 2 {
					got := httptest.NewRecorder()
					gc, _ := gin.CreateTestContext(got)
					tc.write(gc)
					name := tc.name + "/" + strconv.Itoa(n) + "/" + strconv.Itoa(status)
					if got.Code != want.Code {
						t.Errorf("%s: status %d, want %d", name, got.Code, want.Code)
					}
					if g, w := got.Header().Get("Content-Type"), want.Header().Get("Content-Type"); g != w {
						t.Errorf("%s: Content-Type %q, want %q", name, g, w)
					}
					if !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
						t.Errorf("%s: body differs from c.JSON\n got: %s\nwant: %s", name, got.Body.Bytes(), want.Body.Bytes())
					}
				}
			}
		}
	}
}

// FuzzV1ResponseEncoding puts fuzzed strings into every string field, with
// the optional fields switched on and off by flags.
func FuzzV1ResponseEncoding(f *testing.F) {
	for i, s := range trickyStrings {
		f.Add(s, "key-"+s, s+"</x>", uint8(i*37), i-7)
	}
	f.Add("", "", "", uint8(0), 0)
	f.Add("\xed\xa0\x80\u2028", "<&>", "\x00\x7f\xff", uint8(0xff), -1<<31)
	f.Fuzz(func(t *testing.T, a, b, c string, flags uint8, n int) {
		for _, s := range []string{a, b, c} {
			equalMarshal(t, appendJSONString(nil, s), s)
		}
		first := v1Result{Index: n, EventID: a, IdempotencyKey: b, IDSource: c, CoarseID: flags&1 != 0, Status: a + b}
		switch flags >> 1 & 3 {
		case 1:
			first.Duplicate = &trueValue
		case 2:
			first.Duplicate = &falseValue
		case 3:
			first.Error = &errorDetail{Code: c, Message: b, Field: a}
		}
		resp := v1Response{Accepted: n, Rejected: -n, Failed: n / 3, Results: []v1Result{first, {Index: -n, Status: c}}}
		if flags&8 != 0 {
			resp.Error = &errorDetail{Code: b, Message: c + a}
		}
		if flags&16 != 0 {
			resp.Results = resp.Results[:0]
		}
		if flags&32 != 0 {
			resp.Results = nil
		}
		equalMarshal(t, appendV1Response(nil, &resp), resp)
		seg := segmentResponse{Success: flags&64 != 0, v1Response: resp}
		equalMarshal(t, appendSegmentResponse(nil, &seg), seg)
	})
}

// benchOutcome is a batch as the ingestor answers it: accepted events
// with content ids, every fourth with an idempotency key, one in fifty
// rejected.
func benchOutcome(n int) ingest.Outcome {
	out := ingest.Outcome{Results: make([]ingest.Result, n)}
	for i := range out.Results {
		r := &out.Results[i]
		r.Index = i
		if i%50 == 49 {
			r.Status = ingest.StatusRejected
			r.Rejection = &normalize.Rejection{Code: "invalid_amount", Field: "amount", Message: "amount must be a decimal number"}
			out.Rejected++
			continue
		}
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		r.EventID = hex.EncodeToString(sum[:])
		r.IDSource = event.IDSourceContent
		if i%4 == 0 {
			r.IdempotencyKey = "order-" + strconv.Itoa(100000+i)
			r.IDSource = event.IDSourceKey
		}
		r.Status = ingest.StatusAccepted
		out.Accepted++
	}
	return out
}

// BenchmarkV1Response compares json.Marshal (what c.JSON ran) with the
// append encoder and its pooled buffer (what the handler runs now), and
// with the encoder on a fresh buffer each time.
func BenchmarkV1Response(b *testing.B) {
	for _, n := range []int{1, 500} {
		resp := newV1Response(benchOutcome(n))
		b.Run("results="+strconv.Itoa(n)+"/encoder=json.Marshal", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(resp); err != nil {
					b.Fatal(err)
				}
			}
		})
		// Unpooled: what the buffer pool saves.
		b.Run("results="+strconv.Itoa(n)+"/encoder=append-unpooled", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = appendV1Response(nil, &resp)
			}
		})
		b.Run("results="+strconv.Itoa(n)+"/encoder=append", func(b *testing.B) {
			var pool bufferPool
			b.ReportAllocs()
			for b.Loop() {
				buf := pool.get()
				*buf = appendV1Response(*buf, &resp)
				pool.put(buf)
			}
		})
	}
}
