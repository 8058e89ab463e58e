package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tally-dev/tally/queryapi/internal/aggregate"
	"github.com/tally-dev/tally/queryapi/internal/decimal"
	"github.com/tally-dev/tally/queryapi/internal/eventlog"
	"github.com/tally-dev/tally/queryapi/internal/instant"
	"github.com/tally-dev/tally/queryapi/internal/stats"
)

func ptime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func TestParseAggregation(t *testing.T) {
	tests := []struct {
		query string
		want  aggregate.Query
	}{
		{"", aggregate.Query{GroupBy: aggregate.GroupNone}},
		{"groupBy=both&interval=hour", aggregate.Query{GroupBy: aggregate.GroupBoth, Interval: aggregate.IntervalHour}},
		{"clientId=a&clientId=b&clientId=a&metric=m", aggregate.Query{ClientIDs: []string{"a", "b"}, Metrics: []string{"m"}, GroupBy: aggregate.GroupNone}},
		{"clientId=&metric=", aggregate.Query{GroupBy: aggregate.GroupNone}},
		{"from=2024-01-01T00:00:00Z&to=2024-01-02", aggregate.Query{From: ptime("2024-01-01T00:00:00Z"), To: ptime("2024-01-02T00:00:00Z"), GroupBy: aggregate.GroupNone}},
		{"from=2024-01-01T01:00:00%2B01:00&to=1704067201000", aggregate.Query{From: ptime("2024-01-01T00:00:00Z"), To: ptime("2024-01-01T00:00:01Z"), GroupBy: aggregate.GroupNone}},
		{"clientId=a%27%20OR%201%3D1--", aggregate.Query{ClientIDs: []string{"a' OR 1=1--"}, GroupBy: aggregate.GroupNone}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, err := parseAggregation(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestBadInputIs400 covers invariant I4: every mistake is a 400 with the
// error shape, and nothing reaches the store.
func TestBadInputIs400(t *testing.T) {
	router := specRouter(t)
	bad := []string{
		"/v1/aggregations?groupBy=client",
		"/v1/aggregations?interval=week",
		"/v1/aggregations?groupBy=both&groupBy=none",
		"/v1/aggregations?from=yesterday",
		"/v1/aggregations?from=2024-13-01",
		"/v1/aggregations?from=1969-12-31T23:59:59Z",
		"/v1/aggregations?from=99999999999999999999",
		"/v1/aggregations?from=2024-01-02&to=2024-01-01",
		"/v1/aggregations?from=2024-01-01&to=2024-01-01",
		"/v1/aggregations?interval=minute&from=2024-01-01&to=2024-02-01", // 44640 buckets
		"/v1/aggregations?unknown=1",
		"/v1/aggregations?clientId=%ZZ",
		"/v1/aggregations?clientId=a;b",
		"/v1/aggregations?clientId=%FF%FE",
		"/v1/aggregations?clientId=" + strings.Repeat("x", 2000),
		"/v1/aggregations?" + strings.Repeat("clientId=a&", 1) + manyClients(101),
		"/v1/events?limit=0",
		"/v1/events?limit=1001",
		"/v1/events?limit=ten",
		"/v1/events?status=failed",
		"/v1/events?cursor=not-a-cursor",
		"/v1/events?cursor=" + "eyJyIjoxfQ", // {"r":1}: no id
		"/v1/events?clientId=a&clientId=b",
		"/v1/events?offset=5",
		"/v1/events/abc",
		"/v1/events/raw-1-x",
		"/v1/events/raw--1-2",
		"/v1/events/" + strings.Repeat("A", 64),
		"/v1/events/raw-0-1?x=1",
		"/v1/stats?verbose=1",
		"/api/events?status=duplicate",
		"/api/events?skip=-1",
		"/api/events?limit=100000",
		"/api/events?startDate=2024-02-01&endDate=2024-01-01",
		"/api/aggregation?groupBy=everything",
		"/api/aggregations?clientId=a&clientId=b",
		"/api/aggregation?interval=day",
		"/api/health?x=1",
		"/healthz?x",
	}
	for _, target := range bad {
		t.Run(target[:min(len(target), 80)], func(t *testing.T) {
			f := &fakeStore{}
			s, _ := newTestServer(t, f)
			req, rec := do(t, s, target)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			var body errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != "invalid_parameter" || body.Error.Message == "" {
				t.Fatalf("body %s (%v)", rec.Body, err)
			}
			if f.lastAgg != nil || f.lastList != nil {
				t.Fatal("bad input reached the store")
			}
			if !undocumented400[strings.SplitN(target, "?", 2)[0]] {
				checkSpec(t, router, req, rec)
			}
		})
	}
}

// undocumented400 are routes whose spec entry lists no 400 yet although
// they reject parameters they do not take (reported to the spec's owner).
var undocumented400 = map[string]bool{"/healthz": true, "/v1/stats": true, "/api/health": true}

func manyClients(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("clientId=c")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(strings.Repeat("y", i/26))
		b.WriteString("&")
	}
	return b.String()
}

func TestAggregationsResponse(t *testing.T) {
	router := specRouter(t)
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	st := func(n uint64, sum, lo, hi string) aggregate.Stats {
		s := decimal.MustParse(sum)
		return aggregate.Stats{Count: n, Sum: s, Avg: s.Div(n), Min: decimal.MustParse(lo), Max: decimal.MustParse(hi)}
	}
	f := &fakeStore{groups: []aggregate.Group{{
		ClientID: "a", Metric: "m", Stats: st(2, "12345678901234567890.123456789", "0.000000001", "12345678901234567890.123456788"),
		Series: []aggregate.Bucket{{Start: day, Stats: st(2, "12345678901234567890.123456789", "0.000000001", "12345678901234567890.123456788")}},
	}}}
	s, _ := newTestServer(t, f)
	req, rec := do(t, s, "/v1/aggregations?groupBy=both&interval=day&clientId=a&from=2024-01-01T00:00:00Z")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	checkSpec(t, router, req, rec)
	exact := `"sumExact":"12345678901234567890.123456789","avgExact":"6172839450617283945.061728395","minExact":"0.000000001","maxExact":"12345678901234567890.123456788"`
	want := `{"groups":[{"clientId":"a","metric":"m","count":2,"sum":12345678901234567890.123456789,"avg":6172839450617283945.061728395,"min":0.000000001,"max":12345678901234567890.123456788,` +
		exact + `,"series":[{"bucket":"2024-01-01T00:00:00.000Z","count":2,"sum":12345678901234567890.123456789,"avg":6172839450617283945.061728395,"min":0.000000001,"max":12345678901234567890.123456788,` +
		exact + `}]}],` +
		`"filters":{"clientId":["a"],"metric":[],"from":"2024-01-01T00:00:00.000Z","to":null,"groupBy":"both","interval":"day"}}`
	if got := rec.Body.String(); got != want {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}

	// Grouped by metric only: no clientId key, no series.
	f.groups = []aggregate.Group{{Metric: "m", Stats: st(1, "1", "1", "1")}}
	req, rec = do(t, s, "/v1/aggregations?groupBy=metric")
	checkSpec(t, router, req, rec)
	if want := `{"groups":[{"metric":"m","count":1,"sum":1,"avg":1,"min":1,"max":1,"sumExact":"1","avgExact":"1","minExact":"1","maxExact":"1"}],"filters":{"clientId":[],"metric":[],"from":null,"to":null,"groupBy":"metric","interval":null}}`; rec.Body.String() != want {
		t.Fatalf("body %s", rec.Body)
	}
	// Nothing matched: empty list, never null.
	f.groups = nil
	req, rec = do(t, s, "/v1/aggregations")
	checkSpec(t, router, req, rec)
	if !strings.HasPrefix(rec.Body.String(), `{"groups":[],`) {
		t.Fatalf("body %s", rec.Body)
	}
}

func TestDependencyDownIs503(t *testing.T) {
	router := specRouter(t)
	for _, target := range []string{
		"/v1/aggregations", "/v1/events", "/v1/events/raw-0-1", "/v1/stats", "/v1/stream",
		"/api/events", "/api/aggregation", "/api/aggregations",
	} {
		t.Run(target, func(t *testing.T) {
			s, _ := newTestServer(t, &fakeStore{err: errDown})
			req, rec := do(t, s, target)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("status %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
			}
			if strings.Contains(rec.Body.String(), "refused") {
				t.Fatalf("internal error text leaked: %s", rec.Body)
			}
			checkSpec(t, router, req, rec)
		})
	}
}

func TestStoreValidationErrorIs400(t *testing.T) {
	s, _ := newTestServer(t, &fakeStore{err: aggregate.ErrTooLarge})
	_, rec := do(t, s, "/v1/aggregations?groupBy=both")
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "invalid_parameter") {
		t.Fatalf("status %d body %s", rec.Code, rec.Body)
	}
}

func TestEventList(t *testing.T) {
	router := specRouter(t)
	amt := decimal.MustParse("12.5")
	ts := instant.Of(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	id := strings.Repeat("ab", 32)
	next := eventlog.Cursor{AtMs: 1704067200000, ID: id, Status: eventlog.StatusProcessed}
	f := &fakeStore{
		items: []eventlog.Summary{
			{ID: id, EventID: id, Status: eventlog.StatusProcessed, ClientID: "a", Metric: "m", Amount: &amt, Timestamp: &ts,
				ReceivedAt: ts, Source: eventlog.Source{Topic: "events.raw", Partition: 1, Offset: 7}},
			{ID: "raw-0-3", Status: eventlog.StatusRejected, ReceivedAt: ts, Source: eventlog.Source{Topic: "events.raw", Offset: 3},
				Rejection: &eventlog.Rejection{Code: "amount_invalid", Field: "amount", Message: "not a number"}},
		},
		next: &next,
	}
	s, _ := newTestServer(t, f)
	req, rec := do(t, s, "/v1/events?status=processed&clientId=a&limit=2&from=2024-01-01")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	checkSpec(t, router, req, rec)
	var body struct {
		Events     []map[string]any `json:"events"`
		NextCursor *string          `json:"nextCursor"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Events) != 2 || body.NextCursor == nil {
		t.Fatalf("body %s", rec.Body)
	}
	if q := f.lastList; q.Limit != 2 || len(q.Statuses) != 1 || q.Statuses[0] != eventlog.StatusProcessed || q.From == nil {
		t.Fatalf("query %+v", q)
	}
	// The cursor round-trips into the next request.
	f.next = nil
	req, rec = do(t, s, "/v1/events?cursor="+*body.NextCursor)
	checkSpec(t, router, req, rec)
	if f.lastList.After == nil || *f.lastList.After != next {
		t.Fatalf("cursor not passed: %+v", f.lastList.After)
	}
	if !strings.Contains(rec.Body.String(), `"nextCursor":null`) {
		t.Fatalf("last page must have null cursor: %s", rec.Body)
	}
}

func TestEventDetail(t *testing.T) {
	router := specRouter(t)
	id := strings.Repeat("0f", 32)
	ts := instant.Of(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	f := &fakeStore{detail: eventlog.Detail{
		ID: id, Status: eventlog.StatusProcessed, Raw: `{"a":1}`, ReceivedAt: ts,
		Event:  &eventlog.Canonical{EventID: id, ClientID: "a", Metric: "m", Amount: decimal.MustParse("1"), Timestamp: ts},
		Source: eventlog.Source{Topic: "events.raw", Partition: 0, Offset: 1},
		Duplicates: eventlog.Duplicates{Count: 1, Copies: []eventlog.Copy{{
			Kind: eventlog.StatusDuplicate, Source: eventlog.Source{Topic: "events.raw", Offset: 2}, ReceivedAt: ts, DetectedAt: ts,
		}}},
	}}
	s, _ := newTestServer(t, f)
	req, rec := do(t, s, "/v1/events/"+id)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	checkSpec(t, router, req, rec)
	req, rec = do(t, s, "/v1/events/raw-4-2")
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d", rec.Code)
	}
	checkSpec(t, router, req, rec)
}

func TestStatsAndStream(t *testing.T) {
	router := specRouter(t)
	f := &fakeStore{snap: stats.Snapshot{
		Received: 10, Outcomes: stats.Outcomes{Processed: 6, Duplicates: 2, Rejected: 1, DeadLettered: 1}, Reconciled: true,
		Throughput: stats.Throughput{ProcessedPerSecond: 0.6, WindowSeconds: 10},
		Lag:        []stats.PartitionLag{{Partition: 0}}, RejectedByReason: []stats.ReasonCount{{Code: "x", Count: 1}},
		AsOf: instant.Of(fixedNow),
	}}
	s, _ := newTestServer(t, f)
	req, rec := do(t, s, "/v1/stats")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	checkSpec(t, router, req, rec)

	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/v1/stream", nil)
	resp, err := http.DefaultClient.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var events, data int
	for sc.Scan() && data < 3 {
		line := sc.Text()
		switch {
		case line == "event:stats" || line == "event: stats":
			events++
		case strings.HasPrefix(line, "data:"):
			var snap stats.Snapshot
			if err := json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, "data:"))), &snap); err != nil || snap.Received != 10 {
				t.Fatalf("data line %q: %v", line, err)
			}
			data++
		}
	}
	if events != 3 || data != 3 {
		t.Fatalf("saw %d events, %d data lines", events, data)
	}
	// Shutting down closes open streams instead of waiting for them.
	s.CloseStreams()
	done := make(chan struct{})
	go func() {
		for sc.Scan() {
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("stream did not end after CloseStreams")
	}
}

func TestSeedRoutes(t *testing.T) {
	router := specRouter(t)
	amt := decimal.MustParse("1200")
	ts := instant.Of(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	id := strings.Repeat("cd", 32)
	f := &fakeStore{
		groups: []aggregate.Group{{ClientID: "client_A", Stats: aggregate.Stats{Count: 3, Sum: amt, Avg: amt.Div(3), Min: amt, Max: amt}}},
		items: []eventlog.Summary{
			{ID: id, EventID: id, Status: eventlog.StatusProcessed, ClientID: "client_A", Metric: "purchase", Amount: &amt, Timestamp: &ts, ReceivedAt: ts, Raw: `{"source":"client_A"}`},
			{ID: "raw-0-9", Status: eventlog.StatusDeadLettered, ReceivedAt: ts, Rejection: &eventlog.Rejection{Code: "dead_lettered", Message: "poison"}},
		},
		count: 7,
	}
	s, _ := newTestServer(t, f)

	req, rec := do(t, s, "/api/events?clientId=client_A&startDate=2024-01-01&endDate=2024-01-31&limit=10&skip=20")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	checkSpec(t, router, req, rec)
	q := f.lastList
	if q.Offset != 20 || q.Limit != 10 || !q.WithRaw || !q.To.Equal(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("query %+v", q)
	}
	if !strings.Contains(rec.Body.String(), `"status":"failed"`) || !strings.Contains(rec.Body.String(), `"total":7`) {
		t.Fatalf("body %s", rec.Body)
	}
	_, rec = do(t, s, "/api/events?startDate=2024/01/01&endDate=2024/01/01")
	if rec.Code != http.StatusOK || !f.lastList.From.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) || !f.lastList.To.Equal(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("seed date format: %d %+v", rec.Code, f.lastList)
	}
	req, rec = do(t, s, "/api/events?status=failed")
	checkSpec(t, router, req, rec)
	if f.lastList.Statuses[0] != eventlog.StatusDeadLettered {
		t.Fatalf("failed must mean dead-lettered: %+v", f.lastList.Statuses)
	}

	for _, path := range []string{"/api/aggregation", "/api/aggregations"} {
		req, rec = do(t, s, path+"?groupBy=clientId&clientId=client_A")
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		checkSpec(t, router, req, rec)
		want := `{"success":true,"aggregation":[{"_id":{"clientId":"client_A"},"count":3,"totalAmount":1200,"avgAmount":400,"minAmount":1200,"maxAmount":1200}],` +
			`"statistics":{"totalProcessed":3,"rejected":7,"failed":7},"filters":{"clientId":"client_A","metric":null,"startDate":null,"endDate":null,"groupBy":"clientId"}}`
		if rec.Body.String() != want {
			t.Fatalf("body\n got %s\nwant %s", rec.Body, want)
		}
	}

	req, rec = do(t, s, "/api/health")
	checkSpec(t, router, req, rec)
	if rec.Body.String() != `{"status":"ok","timestamp":"2024-05-06T07:08:09.010Z"}` {
		t.Fatalf("body %s", rec.Body)
	}
}

func TestHealthReadyMetricsAndErrors(t *testing.T) {
	router := specRouter(t)
	f := &fakeStore{}
	s, _ := newTestServer(t, f)
	for _, target := range []string{"/healthz", "/readyz"} {
		req, rec := do(t, s, target)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d", target, rec.Code)
		}
		checkSpec(t, router, req, rec)
	}
	f.ping = errDown
	req, rec := do(t, s, "/readyz")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("readyz with ClickHouse down: %d", rec.Code)
	}
	checkSpec(t, router, req, rec)

	_, rec = do(t, s, "/nope")
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"code":"not_found"`) {
		t.Fatalf("unknown route: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/aggregations", nil))
	if rec.Code != http.StatusMethodNotAllowed || !strings.Contains(rec.Body.String(), `"error"`) {
		t.Fatalf("wrong method: %d %s", rec.Code, rec.Body)
	}
	f.panic = true
	_, rec = do(t, s, "/v1/aggregations")
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"code":"internal"`) {
		t.Fatalf("panic: %d %s", rec.Code, rec.Body)
	}

	_, rec = do(t, s, "/openapi.json")
	if rec.Code != http.StatusOK || rec.Body.String() != `{"openapi":"3.0.3"}` {
		t.Fatalf("openapi: %d %s", rec.Code, rec.Body)
	}
	_, rec = do(t, s, "/metrics")
	body := rec.Body.String()
	for _, want := range []string{
		`tally_queryapi_http_requests_total{method="GET",route="/readyz",status="503"} 1`,
		`tally_queryapi_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`tally_queryapi_http_requests_total{method="GET",route="/v1/aggregations",status="500"} 1`,
		`tally_queryapi_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestDimensions(t *testing.T) {
	f := &fakeStore{values: []string{"client_A", "client_B", "other"}}
	s, _ := newTestServer(t, f)
	_, rec := do(t, s, "/v1/clients?prefix=client_&limit=1")
	if rec.Code != http.StatusOK || rec.Body.String() != `{"clients":["client_A"],"truncated":true}` {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if f.lastValues[0] != aggregate.Clients {
		t.Fatalf("asked for %v", f.lastValues)
	}
	_, rec = do(t, s, "/v1/metrics")
	if rec.Code != http.StatusOK || rec.Body.String() != `{"metrics":["client_A","client_B","other"],"truncated":false}` {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	for _, bad := range []string{"/v1/clients?limit=0", "/v1/clients?limit=1001", "/v1/metrics?prefix=a&prefix=b", "/v1/metrics?sort=x"} {
		if _, rec := do(t, s, bad); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, rec.Code, rec.Body)
		}
	}
}
