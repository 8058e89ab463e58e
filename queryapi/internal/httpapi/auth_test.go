package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"pgregory.net/rapid"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/queryapi/internal/eventlog"
)

// authEnv is a query API with authentication on, its keys in a real control
// plane (a registry following a control topic on kfake, and a writer).
type authEnv struct {
	t     testing.TB
	srv   *Server
	f     *fakeStore
	plane control.Plane
	ready chan struct{}
	admin string // an admin key of tenant ops
}

func newAuthEnv(t testing.TB, gateReady bool) *authEnv {
	t.Helper()
	gin.SetMode(gin.TestMode)
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := control.CreateTopic(ctx, kadm.NewClient(cl), control.DefaultTopic, 1); err != nil {
		t.Fatal(err)
	}
	reg, err := control.NewRegistry(opts, control.DefaultTopic, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	go func() { _ = reg.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := reg.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	e := &authEnv{t: t, f: &fakeStore{}, plane: control.Plane{Registry: reg, W: control.NewWriter(cl, control.DefaultTopic)}}
	e.admin = e.key("ops", control.ScopeAdmin, control.ScopeQuery)
	ready := reg.Ready()
	if gateReady {
		e.ready = make(chan struct{})
		ready = e.ready
	}
	metrics := prometheus.NewRegistry()
	e.srv, err = New(Deps{
		Aggregator: e.f, Events: e.f, Stats: e.f, ClickHouse: e.f,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: metrics, Gatherer: metrics, Spec: []byte(`{"openapi":"3.0.3"}`),
		QueryTimeout: time.Second, StreamInterval: 10 * time.Millisecond,
		Now:  func() time.Time { return fixedNow },
		Auth: &auth.Checker{Auth: reg}, Control: e.plane, ControlReady: ready,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// key creates a key in the control plane and returns its text.
func (e *authEnv) key(tenant string, scopes ...string) string {
	e.t.Helper()
	text, k, err := control.NewKey(tenant, scopes, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.plane.PutKey(ctx, k); err != nil {
		e.t.Fatal(err)
	}
	return text
}

// call sends a request with the key in X-API-Key ("" for none).
func (e *authEnv) call(method, target, key, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func errorCode(t testing.TB, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Error struct {
			Code, Message string
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code == "" {
		t.Fatalf("status %d: not a JSON error: %s", rec.Code, rec.Body)
	}
	return body.Error.Code
}

// dataRoutes is every route that reads a tenant's data.
var dataRoutes = []string{
	"/v1/aggregations?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z",
	"/v1/events", "/v1/events/raw-0-1", "/v1/stats", "/v1/stream", "/v1/clients", "/v1/metrics",
	"/api/events", "/api/aggregation", "/api/aggregations",
}

func TestEveryDataRouteNeedsAKey(t *testing.T) {
	e := newAuthEnv(t, false)
	query := e.key("acme", control.ScopeQuery)
	ingest := e.key("acme", control.ScopeIngest)
	for _, route := range dataRoutes {
		if rec := e.call(http.MethodGet, route, "", ""); rec.Code != http.StatusUnauthorized || errorCode(t, rec) != "unauthorized" {
			t.Errorf("%s without a key: %d %s", route, rec.Code, rec.Body)
		}
		if rec := e.call(http.MethodGet, route, "tly_aaaaaaaaaaaa_"+strings.Repeat("b", 43), ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s with an unknown key: %d", route, rec.Code)
		}
		if rec := e.call(http.MethodGet, route, ingest, ""); rec.Code != http.StatusForbidden || errorCode(t, rec) != "forbidden" {
			t.Errorf("%s with an ingest-only key: %d %s", route, rec.Code, rec.Body)
		}
		if route == "/v1/stream" {
			continue // answers 200 and streams; its tenant is checked below
		}
		if rec := e.call(http.MethodGet, route, query, ""); rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
			t.Errorf("%s with a query key: %d %s", route, rec.Code, rec.Body)
		}
	}
	for _, open := range []string{"/healthz", "/metrics", "/openapi.json", "/api/health"} {
		if rec := e.call(http.MethodGet, open, "", ""); rec.Code != http.StatusOK {
			t.Errorf("%s must stay open: %d", open, rec.Code)
		}
	}
	// Every way of sending the key works.
	for name, set := range map[string]func(*http.Request){
		"bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+query) },
		"basic":  func(r *http.Request) { r.SetBasicAuth(query, "") },
	} {
		req := httptest.NewRequest(http.MethodGet, "/v1/events", nil)
		set(req)
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
}

func TestAKeyReadsOnlyItsTenant(t *testing.T) {
	e := newAuthEnv(t, false)
	acme := e.key("acme", control.ScopeQuery)
	if rec := e.call(http.MethodGet, "/v1/events", acme, ""); rec.Code != http.StatusOK || e.f.lastList.Tenant != "acme" {
		t.Fatalf("list: %d, tenant %q", rec.Code, e.f.lastList.Tenant)
	}
	if rec := e.call(http.MethodGet, "/v1/aggregations?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z", acme, ""); rec.Code != http.StatusOK ||
		e.f.lastAgg.Tenant != "acme" {
		t.Fatalf("aggregations: %d %s", rec.Code, rec.Body)
	}
	// Naming another tenant is an admin's privilege.
	if rec := e.call(http.MethodGet, "/v1/events?tenant=globex", acme, ""); rec.Code != http.StatusForbidden {
		t.Fatalf("a query key naming another tenant: %d %s", rec.Code, rec.Body)
	}
	// Naming its own tenant is allowed and changes nothing.
	if rec := e.call(http.MethodGet, "/v1/events?tenant=acme&limit=5", acme, ""); rec.Code != http.StatusOK || e.f.lastList.Tenant != "acme" ||
		e.f.lastList.Limit != 5 {
		t.Fatalf("naming its own tenant: %d %s", rec.Code, rec.Body)
	}
	if rec := e.call(http.MethodGet, "/v1/events?tenant=globex", e.admin, ""); rec.Code != http.StatusOK || e.f.lastList.Tenant != "globex" {
		t.Fatalf("an admin naming a tenant: %d, tenant %q", rec.Code, e.f.lastList.Tenant)
	}
	if rec := e.call(http.MethodGet, "/v1/events?tenant=a&tenant=b", e.admin, ""); rec.Code != http.StatusBadRequest {
		t.Fatalf("tenant twice: %d", rec.Code)
	}
	if rec := e.call(http.MethodGet, "/v1/events?tenant=Not%20A%20Tenant", e.admin, ""); rec.Code != http.StatusBadRequest {
		t.Fatalf("a bad tenant name: %d %s", rec.Code, rec.Body)
	}
	// The books: a tenant sees its own view, an admin the whole pipeline.
	var snap struct{ Tenant string }
	rec := e.call(http.MethodGet, "/v1/stats", acme, "")
	if err := json.Unmarshal(rec.Body.Bytes(), &snap); err != nil || rec.Code != http.StatusOK || snap.Tenant != "acme" {
		t.Fatalf("stats for acme: %d %s", rec.Code, rec.Body)
	}
	snap.Tenant = ""
	rec = e.call(http.MethodGet, "/v1/stats", e.admin, "")
	if err := json.Unmarshal(rec.Body.Bytes(), &snap); err != nil || rec.Code != http.StatusOK || snap.Tenant != "" {
		t.Fatalf("stats for an admin: %d %s", rec.Code, rec.Body)
	}
	// An event of another tenant is simply not found.
	e.f.detail = eventlog.Detail{}
	if rec := e.call(http.MethodGet, "/v1/events/raw-0-1", acme, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("detail: %d", rec.Code)
	}
}

// Whatever keys exist and whatever a request names, the tenant a data
// route reads is the key's own unless the key is an admin's.
func TestTenantIsolationProperty(t *testing.T) {
	e := newAuthEnv(t, false)
	tenants := []string{"acme", "globex", "initech"}
	type held struct {
		text, tenant string
		admin        bool
	}
	var keys []held
	for _, tn := range tenants {
		keys = append(keys, held{e.key(tn, control.ScopeQuery), tn, false}, held{e.key(tn, control.ScopeQuery, control.ScopeAdmin), tn, true})
	}
	rapid.Check(t, func(rt *rapid.T) {
		k := rapid.SampledFrom(keys).Draw(rt, "key")
		named := rapid.SampledFrom(append([]string{""}, tenants...)).Draw(rt, "named")
		target := "/v1/events"
		if named != "" {
			target += "?tenant=" + named
		}
		e.f.lastList = nil
		rec := e.call(http.MethodGet, target, k.text, "")
		switch {
		case named != "" && named != k.tenant && !k.admin:
			if rec.Code != http.StatusForbidden || e.f.lastList != nil {
				rt.Fatalf("%s key of %s named %s: %d, store asked %v", "query", k.tenant, named, rec.Code, e.f.lastList)
			}
		default:
			want := k.tenant
			if named != "" {
				want = named
			}
			if rec.Code != http.StatusOK || e.f.lastList == nil || e.f.lastList.Tenant != want {
				rt.Fatalf("key of %s (admin %v) named %q: %d, read %+v", k.tenant, k.admin, named, rec.Code, e.f.lastList)
			}
		}
	})
}

func TestAdminKeyLifecycle(t *testing.T) {
	e := newAuthEnv(t, false)
	member := e.key("acme", control.ScopeQuery)
	for _, r := range []struct{ method, target, body string }{
		{http.MethodPost, "/v1/admin/keys", `{"tenant":"acme","scopes":["query"]}`},
		{http.MethodGet, "/v1/admin/keys", ""},
		{http.MethodDelete, "/v1/admin/keys/abc", ""},
		{http.MethodGet, "/v1/admin/topics", ""},
		{http.MethodPut, "/v1/admin/topics/events.raw", `{"tenant":"acme"}`},
	} {
		if rec := e.call(r.method, r.target, "", r.body); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s %s without a key: %d", r.method, r.target, rec.Code)
		}
		if rec := e.call(r.method, r.target, member, r.body); rec.Code != http.StatusForbidden {
			t.Errorf("%s %s with a query key: %d", r.method, r.target, rec.Code)
		}
	}

	// Create: the answer holds the key once; it works at once.
	rec := e.call(http.MethodPost, "/v1/admin/keys", e.admin,
		`{"tenant":"globex","scopes":["query","ingest"],"name":"billing export","rateLimit":{"eventsPerSecond":50},"quotaPerDay":1000}`)
	var created keyJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil || rec.Code != http.StatusCreated || !strings.HasPrefix(created.Key, "tly_") {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if created.Tenant != "globex" || created.RateLimit == nil || created.RateLimit.EventsPerSecond != 50 || created.QuotaPerDay != 1000 {
		t.Fatalf("created %+v", created)
	}
	if rec := e.call(http.MethodGet, "/v1/events", created.Key, ""); rec.Code != http.StatusOK || e.f.lastList.Tenant != "globex" {
		t.Fatalf("the new key: %d %s", rec.Code, rec.Body)
	}
	// List: never the secret or its hash.
	rec = e.call(http.MethodGet, "/v1/admin/keys", e.admin, "")
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), created.Key[17:]) || strings.Contains(rec.Body.String(), `"hash"`) ||
		!strings.Contains(rec.Body.String(), created.ID) {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	rec = e.call(http.MethodGet, "/v1/admin/keys?tenant=acme", e.admin, "")
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), created.ID) {
		t.Fatalf("list for acme shows globex's key: %s", rec.Body)
	}
	// Revoke: refused on the next request.
	if rec := e.call(http.MethodDelete, "/v1/admin/keys/"+created.ID, e.admin, ""); rec.Code != http.StatusOK ||
		!strings.Contains(rec.Body.String(), `"revoked":true`) {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	rec = e.call(http.MethodGet, "/v1/events", created.Key, "")
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "revoked") {
		t.Fatalf("a revoked key: %d %s", rec.Code, rec.Body)
	}
	if rec := e.call(http.MethodDelete, "/v1/admin/keys/nosuchkey000", e.admin, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("revoke unknown: %d", rec.Code)
	}
	// Topic mappings.
	if rec := e.call(http.MethodPut, "/v1/admin/topics/vendor.events", e.admin, `{"tenant":"globex"}`); rec.Code != http.StatusOK {
		t.Fatalf("map: %d %s", rec.Code, rec.Body)
	}
	if tn, ok := e.plane.TenantOf("vendor.events"); !ok || tn != "globex" {
		t.Fatalf("mapping not applied: %q %v", tn, ok)
	}
	if rec := e.call(http.MethodGet, "/v1/admin/topics", e.admin, ""); !strings.Contains(rec.Body.String(), `"vendor.events"`) {
		t.Fatalf("topics: %s", rec.Body)
	}

	// Bad requests are 400 with a reason, never a 5xx.
	for _, body := range []string{
		``, `[]`, `{"tenant":"acme"}`, `{"tenant":"acme","scopes":["root"]}`, `{"tenant":"Bad Tenant","scopes":["query"]}`,
		`{"tenant":"acme","scopes":["query"],"extra":1}`, `{"tenant":"acme","scopes":["query"]} {}`,
		`{"tenant":"acme","scopes":["query"],"expiresAt":"2000-01-01T00:00:00Z"}`,
		`{"tenant":"acme","scopes":["query"],"rateLimit":{"eventsPerSecond":0}}`,
		`{"tenant":"acme","scopes":["query"],"quotaPerDay":-1}`,
	} {
		if rec := e.call(http.MethodPost, "/v1/admin/keys", e.admin, body); rec.Code != http.StatusBadRequest || errorCode(t, rec) != "invalid_body" {
			t.Errorf("create %s: %d %s", body, rec.Code, rec.Body)
		}
	}
	for target, body := range map[string]string{
		"/v1/admin/topics/bad%20topic": `{"tenant":"acme"}`,
		"/v1/admin/topics/ok.topic":    `{"tenant":"NOPE"}`,
	} {
		if rec := e.call(http.MethodPut, target, e.admin, body); rec.Code != http.StatusBadRequest {
			t.Errorf("map %s %s: %d %s", target, body, rec.Code, rec.Body)
		}
	}
}

func TestKeysStillLoadingIs503(t *testing.T) {
	e := newAuthEnv(t, true)
	rec := e.call(http.MethodGet, "/v1/events", e.admin, "")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("before the keys are loaded: %d %s", rec.Code, rec.Body)
	}
	if rec := e.call(http.MethodGet, "/readyz", "", ""); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "control") {
		t.Fatalf("readyz before the keys are loaded: %d %s", rec.Code, rec.Body)
	}
	close(e.ready)
	if rec := e.call(http.MethodGet, "/v1/events", e.admin, ""); rec.Code != http.StatusOK {
		t.Fatalf("after: %d %s", rec.Code, rec.Body)
	}
}

func TestWhoami(t *testing.T) {
	e := newAuthEnv(t, false)
	ingest := e.key("acme", control.ScopeIngest)
	if rec := e.call(http.MethodGet, "/v1/whoami", "", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("without a key: %d", rec.Code)
	}
	var who whoamiJSON
	rec := e.call(http.MethodGet, "/v1/whoami", ingest, "")
	if err := json.Unmarshal(rec.Body.Bytes(), &who); err != nil || rec.Code != http.StatusOK || who.Tenant != "acme" ||
		len(who.Scopes) != 1 || who.Scopes[0] != control.ScopeIngest || who.AuthDisabled {
		t.Fatalf("an ingest key: %d %s", rec.Code, rec.Body)
	}
	rec = e.call(http.MethodGet, "/v1/whoami?tenant=globex", e.admin, "")
	if err := json.Unmarshal(rec.Body.Bytes(), &who); err != nil || who.Tenant != "globex" || who.Home != "ops" {
		t.Fatalf("an admin acting for globex: %d %s", rec.Code, rec.Body)
	}
}
