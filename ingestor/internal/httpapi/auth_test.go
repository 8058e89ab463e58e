package httpapi_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/ingestor/internal/ratelimit"
)

var ingestRoutes = []string{"/v1/events", "/api/events"}

// guardedRoutes are every route that takes events: the refusals (401, 403,
// 503 while keys load) come before the body is read, so any body will do.
var guardedRoutes = []string{"/v1/events", "/api/events", "/v1/track", "/v1/batch"}

// TestEveryIngestRouteNeedsAnIngestKey: no, malformed, unknown, revoked and
// expired keys are 401, a key without the ingest scope 403, and nothing of
// a refused request reaches the topic.
func TestEveryIngestRouteNeedsAnIngestKey(t *testing.T) {
	h := newHarness(t, defaultOptions())
	past := time.Now().Add(-time.Minute)
	revoked := h.newKey(event.DefaultTenant, []string{control.ScopeIngest}, func(k *control.Key) { k.Revoked, k.RevokedAt = true, &past })
	expired := h.newKey(event.DefaultTenant, []string{control.ScopeIngest}, func(k *control.Key) { k.ExpiresAt = &past })
	queryOnly := h.newKey(event.DefaultTenant, []string{control.ScopeQuery}, nil)
	unknown, _, err := control.NewKey(event.DefaultTenant, []string{control.ScopeIngest}, time.Now()) // never stored
	if err != nil {
		t.Fatal(err)
	}
	// The right id with another secret.
	id, _, _ := control.Parse(h.key)
	forged := control.Prefix + id + "_" + strings.Repeat("A", 43)

	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
		code   string
		msg    string
	}{
		{"no credential", map[string]string{"Authorization": ""}, 401, "unauthorized", "API key is required"},
		{"not a key", map[string]string{"Authorization": "Bearer hunter2"}, 401, "unauthorized", "not valid"},
		{"unknown key", map[string]string{"Authorization": "Bearer " + unknown}, 401, "unauthorized", "not valid"},
		{"forged secret", map[string]string{"Authorization": "Bearer " + forged}, 401, "unauthorized", "not valid"},
		{"revoked key", map[string]string{"Authorization": "Bearer " + revoked}, 401, "unauthorized", "revoked"},
		{"expired key", map[string]string{"Authorization": "Bearer " + expired}, 401, "unauthorized", "expired"},
		{"unknown scheme", map[string]string{"Authorization": "Token " + h.key}, 401, "unauthorized", "API key is required"},
		{"query scope only", map[string]string{"Authorization": "Bearer " + queryOnly}, 403, "forbidden", `"ingest"`},
		{"ingest key names another tenant", map[string]string{"X-Tenant-Query": "globex"}, 403, "forbidden", "another tenant"},
	} {
		for _, path := range guardedRoutes {
			t.Run(tc.name+" "+path, func(t *testing.T) {
				if tc.header["X-Tenant-Query"] != "" {
					path += "?tenant=" + tc.header["X-Tenant-Query"]
				}
				w := h.do(request{path: path, body: []byte(evA), header: tc.header})
				if w.Code != tc.status {
					t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
				}
				e := decode[errorResponse](t, w)
				if e.Error.Code != tc.code || !strings.Contains(e.Error.Message, tc.msg) {
					t.Fatalf("error %+v, want code %s and a message with %q", e.Error, tc.code, tc.msg)
				}
				if tc.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			})
		}
	}

	// Every way to send a key works: Bearer, X-API-Key, Segment's write key
	// (HTTP basic user, empty password), and an admin key.
	admin := h.newKey("ops", []string{control.ScopeAdmin}, nil)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(h.key+":"))
	accepted := 0
	for _, header := range []map[string]string{
		nil,
		{"Authorization": "", "X-API-Key": h.key},
		{"Authorization": basic},
		{"Authorization": "Bearer " + admin},
	} {
		for _, path := range ingestRoutes {
			w := h.do(request{path: path, body: []byte(evA), header: header})
			if w.Code != http.StatusAccepted && w.Code != http.StatusOK {
				t.Fatalf("%s with %v: %d %s", path, header, w.Code, w.Body)
			}
			accepted++
		}
	}
	// Only the accepted requests' records exist.
	h.exactly(accepted)
}

func TestOperationalRoutesNeedNoKey(t *testing.T) {
	h := newHarness(t, defaultOptions())
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		w := h.do(request{method: http.MethodGet, path: path, header: map[string]string{"Authorization": ""}})
		if w.Code != http.StatusOK {
			t.Errorf("%s without a key: %d %s", path, w.Code, w.Body)
		}
	}
}

// TestRevocationReachesTheIngestor: a key revoked in the control topic is
// refused on the next request, with no restart.
func TestRevocationReachesTheIngestor(t *testing.T) {
	h := newHarness(t, defaultOptions())
	text := h.newKey("acme", []string{control.ScopeIngest}, nil)
	hdr := map[string]string{"Authorization": "Bearer " + text}
	if w := h.do(request{path: "/v1/events", body: []byte(evA), header: hdr}); w.Code != http.StatusAccepted {
		t.Fatalf("before: %d %s", w.Code, w.Body)
	}
	id, _, _ := control.Parse(text)
	k, _ := h.plane.Key(id)
	now := time.Now()
	k.Revoked, k.RevokedAt = true, &now
	h.putKey(k)
	if w := h.do(request{path: "/v1/events", body: []byte(evA), header: hdr}); w.Code != http.StatusUnauthorized {
		t.Fatalf("after revocation: %d %s", w.Code, w.Body)
	}
}

// TestKeysLoading: until the control topic has been read, ingest answers
// 503 with Retry-After (never 401) and /readyz says why.
func TestKeysLoading(t *testing.T) {
	opts := defaultOptions()
	opts.controlReady = make(chan struct{}) // never closes
	h := newHarness(t, opts)
	for _, path := range guardedRoutes {
		w := h.do(request{path: path, body: []byte(evA)})
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Fatalf("%s: %d Retry-After %q: %s", path, w.Code, w.Header().Get("Retry-After"), w.Body)
		}
		if e := decode[errorResponse](t, w); e.Error.Code != "unavailable" {
			t.Fatalf("%s: %+v", path, e)
		}
	}
	w := h.do(request{method: http.MethodGet, path: "/readyz"})
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "API keys not loaded") {
		t.Fatalf("readyz: %d %s", w.Code, w.Body)
	}
	if recs := h.records(1, time.Second); len(recs) != 0 {
		t.Fatalf("%d records produced while keys were loading", len(recs))
	}
}

// TestAuthDisabled: TALLY_AUTH=disabled (tests only) takes every request
// as the default tenant's, sends no tenant header, and limits nothing.
func TestAuthDisabled(t *testing.T) {
	opts := defaultOptions()
	opts.authDisabled = true
	opts.limiter = newLimiter(t, newMiniredis(t).Addr())
	opts.policy = ratelimit.Policy{EventsPerSecond: 1}
	h := newHarness(t, opts)
	w := h.do(request{path: "/v1/events", body: []byte("[" + evA + "," + evC + "]"), header: map[string]string{"Authorization": ""}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	for _, r := range h.records(2, 5*time.Second) {
		if hm := headerMap(r); hm[event.HeaderTenant] != "" || hm[event.HeaderTenantSignature] != "" {
			t.Fatalf("tenant headers without authentication: %v", hm)
		}
	}
}

// TestTenantSignedAndIDsMatchTheProcessor: a record carries its key's
// tenant with a signature that auth.VerifyTenant accepts (as the
// processor's tenancy.Resolver checks it), and the id the ingestor answers
// is the id the processor computes from the record with that tenant — a
// different id than the same event of another tenant.
func TestTenantSignedAndIDsMatchTheProcessor(t *testing.T) {
	h := newHarness(t, defaultOptions())
	acme := h.newKey("acme", []string{control.ScopeIngest}, nil)
	admin := h.newKey("ops", []string{control.ScopeAdmin}, nil)
	post := func(path, key string) string {
		w := h.do(request{path: path, body: []byte(evA), header: map[string]string{"Authorization": "Bearer " + key, "Idempotency-Key": "same"}})
		if w.Code != http.StatusAccepted {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		return decode[v1Response](t, w).Results[0].EventID
	}
	ids := map[string]string{
		"acme":               post("/v1/events", acme),
		event.DefaultTenant:  post("/v1/events", h.key),
		"globex":             post("/v1/events?tenant=globex", admin), // an admin acting for a tenant
		"ops (admin's home)": post("/v1/events", admin),
	}
	if ids["acme"] == ids[event.DefaultTenant] || ids["acme"] == ids["globex"] {
		t.Fatalf("identical events of two tenants share an id: %v", ids)
	}
	engine, err := normalize.New(normalize.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	recs := h.records(4, 10*time.Second)
	if len(recs) != 4 {
		t.Fatalf("%d records", len(recs))
	}
	seen := map[string]bool{}
	for _, r := range recs {
		hm := headerMap(r)
		tenant := hm[event.HeaderTenant]
		if !auth.VerifyTenant(tenantSecret, tenant, r.Value, []byte(hm[event.HeaderTenantSignature])) {
			t.Fatalf("the signature of tenant %q does not verify", tenant)
		}
		if auth.VerifyTenant(tenantSecret, "someone-else", r.Value, []byte(hm[event.HeaderTenantSignature])) {
			t.Fatal("the signature verifies for another tenant")
		}
		// What the processor does: normalize with the verified tenant and
		// the record's receive time and idempotency key.
		received, err := time.Parse(time.RFC3339Nano, hm[event.HeaderReceivedAt])
		if err != nil {
			t.Fatal(err)
		}
		ev, rej := engine.Normalize(normalize.Input{Raw: r.Value, ReceivedAt: received, IdempotencyKey: hm[event.HeaderIdempotencyKey],
			Tenant: tenant})
		if rej != nil {
			t.Fatal(rej)
		}
		name := tenant
		if tenant == "ops" {
			name = "ops (admin's home)"
		}
		if ev.EventID != ids[name] || hm[event.HeaderEventID] != ids[name] {
			t.Errorf("tenant %s: processor id %s, header %s, answered %s", tenant, ev.EventID, hm[event.HeaderEventID], ids[name])
		}
		seen[name] = true
	}
	if len(seen) != 4 {
		t.Fatalf("tenants on the records: %v", seen)
	}
}

func newLimiter(t testing.TB, addr string) *ratelimit.Limiter {
	t.Helper()
	var rdb redis.UniversalClient
	if addr != "" {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
		t.Cleanup(func() { c.Close() })
		rdb = c
	}
	l, err := ratelimit.New(ratelimit.Config{Redis: rdb, Timeout: time.Second, Logger: slog.New(slog.DiscardHandler),
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// batch is n copies of evC as a JSON array.
func batch(n int) []byte {
	return []byte("[" + strings.TrimSuffix(strings.Repeat(evC+",", n), ",") + "]")
}

// TestRateLimit: the key's eventsPerSecond counts events; over it is 429
// with Retry-After and the draft-07 RateLimit fields, a batch larger than
// the bucket is 413, and nothing of a refused request is produced.
func TestRateLimit(t *testing.T) {
	mr := newMiniredis(t)
	mr.SetTime(time.Now()) // frozen: the bucket does not refill during the test
	opts := defaultOptions()
	opts.limiter = newLimiter(t, mr.Addr())
	opts.policy = ratelimit.Policy{EventsPerSecond: 1000}
	h := newHarness(t, opts)
	five := h.newKey("acme", []string{control.ScopeIngest}, func(k *control.Key) { k.RateLimit = 5 })
	hdr := map[string]string{"Authorization": "Bearer " + five}

	w := h.do(request{path: "/v1/events", body: batch(3), header: hdr})
	if w.Code != http.StatusAccepted {
		t.Fatalf("3 of 5: %d %s", w.Code, w.Body)
	}
	// GCRA computes the remaining events in floating point: 2 may come out
	// as 1.999... and be floored.
	if rem := w.Header().Get("RateLimit-Remaining"); rem != "2" && rem != "1" {
		t.Errorf("RateLimit-Remaining = %q, want 2 (or 1)", rem)
	}
	for k, want := range map[string]string{"RateLimit-Limit": "5", "RateLimit-Policy": "5;w=1"} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if reset, err := strconv.Atoi(w.Header().Get("RateLimit-Reset")); err != nil || reset < 0 || reset > 1 {
		t.Errorf("RateLimit-Reset = %q", w.Header().Get("RateLimit-Reset"))
	}
	for _, path := range ingestRoutes {
		w = h.do(request{path: path, body: batch(3), header: hdr})
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("%s: 3 more: %d %s", path, w.Code, w.Body)
		}
		if e := decode[errorResponse](t, w); e.Error.Code != "rate_limited" {
			t.Fatalf("%+v", e)
		}
		if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 {
			t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
		}
		if w.Header().Get("RateLimit-Limit") != "5" || w.Header().Get("RateLimit-Remaining") == "" || w.Header().Get("RateLimit-Reset") == "" {
			t.Fatalf("429 without the RateLimit fields: %v", w.Header())
		}
	}
	w = h.do(request{path: "/v1/events", body: batch(6), header: hdr})
	if e := decode[errorResponse](t, w); w.Code != http.StatusRequestEntityTooLarge || e.Error.Code != "batch_over_rate_limit" {
		t.Fatalf("a batch over the bucket: %d %s", w.Code, w.Body)
	}
	// The other keys have their own buckets: the default policy applies to
	// the harness key.
	if w := h.do(request{path: "/v1/events", body: batch(10)}); w.Code != http.StatusAccepted || w.Header().Get("RateLimit-Limit") != "1000" {
		t.Fatalf("default key: %d %v %s", w.Code, w.Header(), w.Body)
	}
	h.exactly(3 + 10)
}

// TestDailyQuota: the tenant's events per UTC day, over every key of the
// tenant; over it is 429 quota_exceeded with Retry-After until midnight.
func TestDailyQuota(t *testing.T) {
	mr := newMiniredis(t)
	opts := defaultOptions()
	opts.limiter = newLimiter(t, mr.Addr())
	opts.policy = ratelimit.Policy{QuotaPerDay: 100}
	h := newHarness(t, opts)
	a1 := h.newKey("acme", []string{control.ScopeIngest}, func(k *control.Key) { k.QuotaPerDay = 5 }) // lower than the default: wins
	a2 := h.newKey("acme", []string{control.ScopeIngest}, nil)
	other := h.newKey("globex", []string{control.ScopeIngest}, nil)
	send := func(key string, n int) *errorResponse {
		w := h.do(request{path: "/v1/events", body: batch(n), header: map[string]string{"Authorization": "Bearer " + key}})
		if w.Code == http.StatusAccepted {
			return nil
		}
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 86400 {
			t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
		}
		e := decode[errorResponse](t, w)
		return &e
	}
	if e := send(a1, 4); e != nil {
		t.Fatalf("4 of 5: %+v", e)
	}
	if e := send(a1, 2); e == nil || e.Error.Code != "quota_exceeded" || !strings.Contains(e.Error.Message, "5 events") {
		t.Fatalf("2 more over 5: %+v", e)
	}
	for _, n := range []int{48, 48} { // the tenant's 100: 4 + 96
		if e := send(a2, n); e != nil {
			t.Fatalf("another key of the tenant, up to the default: %+v", e)
		}
	}
	if e := send(a2, 1); e == nil || e.Error.Code != "quota_exceeded" {
		t.Fatalf("the 101st event: %+v", e)
	}
	if e := send(other, 50); e != nil {
		t.Fatalf("another tenant: %+v", e)
	}
	if got, _ := mr.Get(ratelimit.QuotaKey("acme", time.Now())); got != "100" {
		t.Fatalf("acme's day in Redis: %q", got)
	}
}

// TestLimitsWithoutRedis: with Redis gone the ingestor still limits, per
// replica, and says so in its metrics.
func TestLimitsWithoutRedis(t *testing.T) {
	mr := newMiniredis(t)
	opts := defaultOptions()
	opts.limiter = newLimiter(t, mr.Addr())
	opts.policy = ratelimit.Policy{EventsPerSecond: 4}
	h := newHarness(t, opts)
	mr.Close()
	if w := h.do(request{path: "/v1/events", body: batch(4)}); w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w := h.do(request{path: "/v1/events", body: batch(4)})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("over the per-replica bucket: %d %s", w.Code, w.Body)
	}
	if !opts.limiter.(*ratelimit.Limiter).Degraded() {
		t.Fatal("not degraded")
	}
}

// TestSharedLimitAcrossIngestors: three ingestor instances (their own
// handler, limiter, Redis connection and control-topic reader, one Kafka
// and one Redis), many concurrent clients spread over them: together they
// admit exactly the key's bucket, and the topic holds exactly what they
// accepted.
func TestSharedLimitAcrossIngestors(t *testing.T) {
	mr := newMiniredis(t)
	mr.SetTime(time.Now()) // frozen: no refill, so the total is exact
	first := newHarness(t, defaultOptions())
	key := first.newKey("acme", []string{control.ScopeIngest}, func(k *control.Key) { k.RateLimit = 60 })
	var servers []string
	for range 3 {
		opts := defaultOptions()
		opts.brokers, opts.controlBrokers, opts.key = first.brokers, first.brokers, key
		opts.limiter = newLimiter(t, mr.Addr())
		h := newHarness(t, opts)
		srv := httptestServer(t, h)
		servers = append(servers, srv)
	}
	const clients, perClient, eventsPerRequest = 30, 4, 2
	type answer struct{ status, events int }
	answers := make(chan answer, clients*perClient)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for c := range clients {
		go func() {
			for i := range perClient {
				url := servers[(c+i)%len(servers)] + "/v1/events"
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(batch(eventsPerRequest))))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					answers <- answer{status: -1}
					continue
				}
				resp.Body.Close()
				answers <- answer{status: resp.StatusCode, events: eventsPerRequest}
			}
		}()
	}
	accepted := 0
	statuses := map[int]int{}
	for range clients * perClient {
		a := <-answers
		statuses[a.status]++
		if a.status == http.StatusAccepted {
			accepted += a.events
		}
	}
	// Never more than the shared bucket (per-replica buckets would admit up
	// to 180). GCRA works in floating point, so the very last request's
	// worth may be refused at the edge: 58 or 60.
	if accepted > 60 || accepted < 60-eventsPerRequest ||
		statuses[http.StatusAccepted]+statuses[http.StatusTooManyRequests] != clients*perClient {
		t.Fatalf("accepted %d events (statuses %v), want the shared 60", accepted, statuses)
	}
	if recs := acmeRecords(first.exactly(accepted)); recs != accepted {
		t.Fatalf("%d acme records in the topic, want %d", recs, accepted)
	}
}

func acmeRecords(recs []*kgo.Record) int {
	n := 0
	for _, r := range recs {
		if headerMap(r)[event.HeaderTenant] == "acme" {
			n++
		}
	}
	return n
}

func httptestServer(t *testing.T, h *harness) string {
	t.Helper()
	srv := httptest.NewServer(h.handler)
	t.Cleanup(srv.Close)
	return srv.URL
}
