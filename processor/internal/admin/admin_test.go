package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/processor/internal/faults"
)

type keys map[string]control.Key

func (k keys) Authenticate(text string, _ time.Time) (control.Key, error) {
	if key, ok := k[text]; ok {
		return key, nil
	}
	return control.Key{}, control.ErrUnknownKey
}

// The fault switchboard is an operator surface: admin keys only.
func TestFaultSwitchboardNeedsAnAdminKey(t *testing.T) {
	h := Handler(Options{Gatherer: prometheus.NewRegistry(), Ready: func() bool { return true }, Status: func() Status { return Status{} },
		Faults: faults.NewBoard(), Auth: &auth.Checker{Auth: keys{
			"adm": {ID: "a", Tenant: "default", Scopes: []string{control.ScopeAdmin}},
			"ing": {ID: "i", Tenant: "default", Scopes: []string{control.ScopeIngest, control.ScopeQuery}},
		}}})
	do := func(method, key, body string) int {
		req := httptest.NewRequest(method, "/v1/faults", strings.NewReader(body))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	put := `{"target":"redis","mode":"fail"}`
	for _, tc := range []struct {
		method, key string
		want        int
	}{
		{http.MethodGet, "", 401}, {http.MethodPut, "", 401}, {http.MethodPut, "nope", 401},
		{http.MethodPut, "ing", 403}, {http.MethodGet, "ing", 403},
		{http.MethodPut, "adm", 200}, {http.MethodGet, "adm", 200}, {http.MethodDelete, "adm", 200},
	} {
		if got := do(tc.method, tc.key, put); got != tc.want {
			t.Errorf("%s with %q: %d, want %d", tc.method, tc.key, got, tc.want)
		}
	}
	// Health and metrics stay open (probes and scrapers carry no key).
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/v1/status"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 200 {
			t.Errorf("%s: %d", path, rec.Code)
		}
	}
}

// Profiles show the process's internals: admin keys only.
func TestProfilesNeedAnAdminKey(t *testing.T) {
	h := Handler(Options{Gatherer: prometheus.NewRegistry(), Ready: func() bool { return true }, Status: func() Status { return Status{} },
		Auth: &auth.Checker{Auth: keys{
			"adm": {ID: "a", Tenant: "default", Scopes: []string{control.ScopeAdmin}},
			"ing": {ID: "i", Tenant: "default", Scopes: []string{control.ScopeIngest, control.ScopeQuery}},
		}}})
	for _, tc := range []struct {
		path, key string
		want      int
	}{
		{"/debug/pprof/", "", 401}, {"/debug/pprof/heap", "ing", 403},
		{"/debug/pprof/", "adm", 200}, {"/debug/pprof/goroutine?debug=1", "adm", 200},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.key != "" {
			req.Header.Set("Authorization", "Bearer "+tc.key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s with %q: %d, want %d", tc.path, tc.key, rec.Code, tc.want)
		}
		if tc.want == 200 && !strings.Contains(rec.Body.String(), "goroutine") {
			t.Errorf("%s: body does not look like a profile: %.200s", tc.path, rec.Body.String())
		}
	}
}
