package httpapi_test

import (
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/event/seenkey"
	"github.com/tally-dev/tally/ingestor/internal/seen"
)

func TestBrokerDown(t *testing.T) {
	for name, setup := range map[string]func(t *testing.T) *harness{
		"dead port": func(t *testing.T) *harness {
			opts := defaultOptions()
			opts.brokers = []string{deadAddr(t)}
			opts.produceTimeout = 300 * time.Millisecond
			return newHarness(t, opts)
		},
		"cluster closed": func(t *testing.T) *harness {
			opts := defaultOptions()
			opts.produceTimeout = 300 * time.Millisecond
			h := newHarness(t, opts)
			h.cluster.Close()
			return h
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := setup(t)
			for _, path := range []string{"/v1/events", "/api/events"} {
				start := time.Now()
				w := h.do(request{path: path, body: []byte("[" + evA + "," + evC + "]")})
				if w.Code != http.StatusServiceUnavailable {
					t.Fatalf("%s: status = %d, body %s", path, w.Code, w.Body)
				}
				if elapsed := time.Since(start); elapsed > 3*time.Second {
					t.Errorf("%s: 503 took %s; the produce timeout is 300ms", path, elapsed)
				}
				if w.Header().Get("Retry-After") == "" {
					t.Errorf("%s: no Retry-After", path)
				}
				if e := decode[errorResponse](t, w); e.Error.Code != "kafka_unavailable" {
					t.Errorf("%s: error = %+v", path, e)
				}
				// Nothing may look like an acceptance: every event failed.
				body := w.Body.String()
				if strings.Contains(body, `"status":"accepted"`) || strings.Contains(body, `"success":true`) ||
					strings.Count(body, "kafka_unavailable") != 3 {
					t.Errorf("%s: 503 body %s says something was accepted, or not that both events failed", path, body)
				}
			}
			w := h.do(request{method: http.MethodGet, path: "/readyz"})
			if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"status":"unavailable"`) {
				t.Errorf("readyz = %d %s", w.Code, w.Body)
			}
		})
	}
}

func TestDuplicateHint(t *testing.T) {
	mr := newMiniredis(t)
	opts := defaultOptions()
	opts.redisAddr = mr.Addr()
	// The answers below must be known, so the hint must not time out on a
	// loaded machine (100 ms, the default here, did once in CI: the first
	// post came back "unknown"). Redis down is still fast: the dial is
	// refused at once.
	opts.redisTimeout = 5 * time.Second
	h := newHarness(t, opts)
	ask := map[string]string{"Prefer": "return=minimal, Duplicate-Hint"}

	// Not asked for: no Redis command, and only what the request itself
	// shows (a repeated element) is answered.
	w := h.do(request{path: "/v1/events", body: []byte("[" + evB + "," + evB + "]")})
	quiet := decode[v1Response](t, w)
	if w.Code != http.StatusAccepted || quiet.Results[0].Duplicate != nil || quiet.Results[1].Duplicate == nil ||
		!*quiet.Results[1].Duplicate || w.Header().Get("Preference-Applied") != "" {
		t.Fatalf("without the preference: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if n := mr.CommandCount(); n != 0 {
		t.Fatalf("without the preference the ingestor sent Redis %d commands, want 0", n)
	}

	w = h.do(request{path: "/v1/events", body: []byte(evA), header: ask})
	first := decode[v1Response](t, w)
	if w.Code != http.StatusAccepted || first.Results[0].Duplicate == nil || *first.Results[0].Duplicate {
		t.Fatalf("first post: %d %s", w.Code, w.Body)
	}
	if got := w.Header().Get("Preference-Applied"); got != "duplicate-hint" {
		t.Errorf("Preference-Applied = %q, want duplicate-hint", got)
	}
	// The processor marks an id only after its durable write; the claim of
	// the first copy expires.
	id := first.Results[0].EventID
	key, field, err := seenkey.Split(id)
	if err != nil {
		t.Fatal(err)
	}
	mr.HSet(key, field, "x")
	mr.FastForward(seen.ClaimWindow + time.Second)
	w = h.do(request{path: "/v1/events", body: []byte("[" + evA + "," + evC + "]"), header: ask})
	second := decode[v1Response](t, w)
	if w.Code != http.StatusAccepted || !*second.Results[0].Duplicate || *second.Results[1].Duplicate {
		t.Fatalf("second post: %d %s", w.Code, w.Body)
	}
	w = h.do(request{path: "/api/events", body: []byte(evA)})
	if !strings.Contains(w.Body.String(), `"isDuplicate":true`) || !strings.Contains(w.Body.String(), `"duplicate":"duplicate"`) {
		t.Errorf("seed route: %s", w.Body)
	}
	// evC's copy above claimed its id: a resend within the window is a
	// duplicate though nothing is stored yet.
	w = h.do(request{path: "/api/events", body: []byte(evC)})
	if !strings.Contains(w.Body.String(), `"isDuplicate":true`) {
		t.Errorf("seed route, resend within the claim window: %s", w.Body)
	}

	// Redis down: still 202; the hint is unknown, never "new".
	mr.Close()
	start := time.Now()
	w = h.do(request{path: "/v1/events", body: []byte(evA), header: ask})
	down := decode[v1Response](t, w)
	if w.Code != http.StatusAccepted || down.Accepted != 1 || down.Results[0].Duplicate != nil {
		t.Fatalf("redis down: %d %s", w.Code, w.Body)
	}
	w = h.do(request{path: "/api/events", body: []byte(evA)})
	if !strings.Contains(w.Body.String(), `"isDuplicate":false`) || !strings.Contains(w.Body.String(), `"duplicate":"unknown"`) {
		t.Errorf("seed route, redis down: %s", w.Body)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("redis down cost %s", elapsed)
	}
	if got := len(h.records(9, 5*time.Second)); got != 9 {
		t.Errorf("got %d records, want 9", got)
	}
}

// Issue #13: a copy reusing a known id with other content is answered as a
// conflict (it will never be counted); the same content stays a duplicate.
func TestConflictHint(t *testing.T) {
	mr := newMiniredis(t)
	opts := defaultOptions()
	opts.redisAddr = mr.Addr()
	opts.redisTimeout = 5 * time.Second // as in TestDuplicateHint: the answers must be known
	h := newHarness(t, opts)
	ask := map[string]string{"Prefer": "duplicate-hint"}
	event := func(amount string) string {
		return `{"clientId":"c1","metric":"m","amount":` + amount + `,"timestamp":"2024-05-01T10:00:00.123Z","idempotencyKey":"reused"}`
	}
	post := func(path, body string, header map[string]string) (int, string) {
		t.Helper()
		w := h.do(request{path: path, body: []byte(body), header: header})
		return w.Code, w.Body.String()
	}

	if code, body := post("/v1/events", event("1"), ask); code != http.StatusAccepted ||
		!strings.Contains(body, `"duplicate":false`) || strings.Contains(body, `"conflict"`) {
		t.Fatalf("first copy: %d %s", code, body)
	}
	if code, body := post("/v1/events", event("2"), ask); code != http.StatusAccepted ||
		!strings.Contains(body, `"duplicate":true,"conflict":true`) {
		t.Errorf("other amount, same key: %d %s, want a conflict", code, body)
	}
	if code, body := post("/v1/events", event("1.00"), ask); code != http.StatusAccepted ||
		!strings.Contains(body, `"duplicate":true`) || strings.Contains(body, `"conflict"`) {
		t.Errorf("same content: %d %s, want a duplicate and no conflict", code, body)
	}
	if code, body := post("/api/events", event("3"), nil); code != http.StatusOK ||
		!strings.Contains(body, `"isDuplicate":true`) || !strings.Contains(body, `"duplicate":"conflict"`) {
		t.Errorf("seed route: %d %s, want isDuplicate and duplicate \"conflict\"", code, body)
	}
	// Within one request, without asking Redis.
	w := h.do(request{path: "/v1/events", body: []byte("[" + event("5") + "," + event("6") + "," + event("5") + "]")})
	within := decode[v1Response](t, w)
	if w.Code != http.StatusAccepted || len(within.Results) != 3 || within.Results[0].Duplicate != nil ||
		!within.Results[1].Conflict || within.Results[2].Conflict || !*within.Results[2].Duplicate {
		t.Errorf("repeats within a request: %d %s, want [unknown, conflict, duplicate]", w.Code, w.Body)
	}
	if got := len(h.records(7, 5*time.Second)); got != 7 {
		t.Errorf("got %d records, want 7: a conflict is acknowledged and stored like any copy", got)
	}
}

func TestOperationalRoutes(t *testing.T) {
	h := newHarness(t, defaultOptions())
	if w := h.do(request{method: http.MethodGet, path: "/healthz"}); w.Code != http.StatusOK || w.Body.String() != `{"status":"ok"}` {
		t.Errorf("healthz = %d %s", w.Code, w.Body)
	}
	if w := h.do(request{method: http.MethodGet, path: "/readyz"}); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"kafka":"ok"`) {
		t.Errorf("readyz = %d %s", w.Code, w.Body)
	}
	w := h.do(request{method: http.MethodGet, path: "/openapi.json"})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"openapi"`) {
		t.Errorf("openapi = %d %.100s", w.Code, w.Body)
	}
	h.do(request{path: "/v1/events", body: []byte("[" + evA + "," + evBadAmount + "]")})
	w = h.do(request{method: http.MethodGet, path: "/metrics"})
	for _, want := range []string{
		`tally_ingestor_http_requests_total{method="POST",route="/v1/events",status="202"} 1`,
		`tally_ingestor_events_accepted_total 1`,
		`tally_ingestor_events_rejected_total{code="amount_invalid"} 1`,
		`tally_ingestor_produce_duration_seconds_count 1`,
	} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if w := h.do(request{method: http.MethodGet, path: "/nope"}); w.Code != http.StatusNotFound || decode[errorResponse](t, w).Error.Code != "not_found" {
		t.Errorf("unknown route = %d %s", w.Code, w.Body)
	}
	if w := h.do(request{method: http.MethodGet, path: "/v1/events"}); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/events = %d", w.Code)
	}
	// A missing or unsafe request id is replaced by a generated one.
	w = h.do(request{method: http.MethodGet, path: "/healthz", header: map[string]string{"X-Request-Id": "bad id\x01"}})
	if id := w.Header().Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Errorf("generated request id = %q", id)
	}
}

// Go's profiles are for admin keys only: an ingest key is forbidden, no
// key is unauthorized, an admin key gets the index and a named profile.
func TestProfilesNeedAdmin(t *testing.T) {
	h := newHarness(t, defaultOptions())
	admin := h.newKey("ops", []string{control.ScopeAdmin}, nil)
	if w := h.do(request{method: http.MethodGet, path: "/debug/pprof/"}); w.Code != http.StatusForbidden {
		t.Errorf("ingest key: %d %s", w.Code, w.Body)
	}
	if w := h.do(request{method: http.MethodGet, path: "/debug/pprof/heap", header: map[string]string{"Authorization": ""}}); w.Code != http.StatusUnauthorized {
		t.Errorf("no key: %d %s", w.Code, w.Body)
	}
	bearer := map[string]string{"Authorization": "Bearer " + admin}
	if w := h.do(request{method: http.MethodGet, path: "/debug/pprof/", header: bearer}); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "goroutine") {
		t.Errorf("admin, index: %d %.200s", w.Code, w.Body)
	}
	if w := h.do(request{method: http.MethodGet, path: "/debug/pprof/goroutine?debug=1", header: bearer}); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "goroutine profile") {
		t.Errorf("admin, goroutines: %d %.200s", w.Code, w.Body)
	}
}

// TestAccessLogLevels: a request's access line is written at debug when it
// succeeds, info for a 4xx and error for a 5xx, and a logger that does not
// take the level gets nothing.
func TestAccessLogLevels(t *testing.T) {
	for _, tc := range []struct {
		level         slog.Level
		ok, badLogged bool
	}{
		{level: slog.LevelInfo, ok: false, badLogged: true},
		{level: slog.LevelDebug, ok: true, badLogged: true},
		{level: slog.LevelError, ok: false, badLogged: false},
	} {
		t.Run(tc.level.String(), func(t *testing.T) {
			// A file: the handler's goroutines may write to it at once.
			logs, err := os.CreateTemp(t.TempDir(), "log")
			if err != nil {
				t.Fatal(err)
			}
			opts := defaultOptions()
			opts.logs, opts.logLevel = logs, tc.level
			h := newHarness(t, opts)
			if w := h.do(request{path: "/v1/events", body: []byte(evA), header: map[string]string{"X-Request-Id": "ok-1"}}); w.Code != http.StatusAccepted {
				t.Fatalf("good event: %d %s", w.Code, w.Body)
			}
			if w := h.do(request{path: "/v1/events", body: []byte(`{`), header: map[string]string{"X-Request-Id": "bad-1"}}); w.Code != http.StatusBadRequest {
				t.Fatalf("bad JSON: %d %s", w.Code, w.Body)
			}
			b, err := os.ReadFile(logs.Name())
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			if strings.Contains(got, `"request_id":"ok-1"`) != tc.ok {
				t.Errorf("202 logged = %v at %s, want %v:\n%s", !tc.ok, tc.level, tc.ok, got)
			}
			if strings.Contains(got, `"request_id":"bad-1","method":"POST","route":"/v1/events","status":400`) != tc.badLogged {
				t.Errorf("400 logged = %v at %s, want %v:\n%s", !tc.badLogged, tc.level, tc.badLogged, got)
			}
		})
	}
}
