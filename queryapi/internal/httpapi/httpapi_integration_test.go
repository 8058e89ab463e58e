//go:build integration

package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/event/openapi"
	"github.com/tally-dev/tally/queryapi/internal/aggregate"
	"github.com/tally-dev/tally/queryapi/internal/chtest"
	"github.com/tally-dev/tally/queryapi/internal/eventlog"
	"github.com/tally-dev/tally/queryapi/internal/stats"
)

type offsetsFunc func() stats.Topic

func (f offsetsFunc) Offsets(context.Context) (stats.Topic, error) { return f(), nil }

// TestAgainstClickHouse drives every query route over real ClickHouse and
// checks each answer against the OpenAPI document and the stored truth.
func TestAgainstClickHouse(t *testing.T) {
	conn, db := chtest.DB(t)
	base := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	var rows []chtest.Winner
	for i := range 30 {
		rows = append(rows, chtest.Winner{EventID: chtest.EventID(i), ClientID: []string{"client_A", "o'brien"}[i%2], Metric: "purchase",
			Amount: "0.1", TsMs: base + int64(i)*3_600_000, ReceivedMs: base + int64(i)*1000, Offset: int64(i), Raw: `{"i":1}`})
	}
	chtest.WriteWinners(t, conn, db, rows, 10, true) // crash replay: every batch written twice
	chtest.WriteRejected(t, conn, db, []chtest.Rejection{{Code: "amount_invalid", Field: "amount", Message: "bad", ClientHint: "client_A",
		Raw: "{", ReceivedMs: base, Offset: 30}})
	chtest.WriteBooks(t, conn, db, []chtest.Counter{{Outcome: "processed", Count: 30}, {Outcome: "rejected", Count: 1},
		{Outcome: "rejected:amount_invalid", Count: 1}}, map[int32]int64{0: 31})

	reg := prometheus.NewRegistry()
	s, err := New(Deps{
		Aggregator: aggregate.NewStore(conn, db),
		Events:     eventlog.NewStore(conn, db, "events.raw"),
		Stats: stats.NewReconciler(offsetsFunc(func() stats.Topic {
			return stats.Topic{Stream: chtest.Stream, Partitions: []stats.PartitionOffsets{{Partition: 0, End: 31, Committed: 31}}}
		}), stats.NewClickHouse(conn, db), time.Now),
		ClickHouse: conn, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: reg, Gatherer: reg, Spec: openapi.Spec,
		QueryTimeout: 10 * time.Second, StreamInterval: time.Second, Now: time.Now,
		Auth: &auth.Checker{}, Control: &memControl{keys: map[string]control.Key{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	router := specRouter(t)
	get := func(target string, into any) {
		t.Helper()
		req, rec := do(t, s, target)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
		checkSpec(t, router, req, rec)
		if into != nil {
			if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
				t.Fatal(err)
			}
		}
	}

	var agg struct {
		Groups []struct {
			ClientID string      `json:"clientId"`
			Count    int         `json:"count"`
			Sum      json.Number `json:"sum"`
			Series   []struct {
				Count int `json:"count"`
			} `json:"series"`
		} `json:"groups"`
	}
	get("/v1/aggregations?groupBy=clientId&interval=day", &agg)
	// 0.1 × 15 must be exactly 1.5 (float64 would give 1.5000000000000002).
	if len(agg.Groups) != 2 || agg.Groups[0].Count != 15 || agg.Groups[0].Sum != "1.5" || len(agg.Groups[0].Series) != 2 {
		t.Fatalf("aggregation %+v", agg)
	}
	get("/v1/aggregations?clientId="+url.QueryEscape("o'brien")+"&from=2024-01-01T12:00:00Z&to=2024-01-02T00:00:00Z", &agg)
	if len(agg.Groups) != 1 || agg.Groups[0].Count != 6 {
		t.Fatalf("filtered aggregation %+v", agg)
	}
	for _, hostile := range []string{"' OR 1=1 --", `\' OR 1=1 --`, "client_A' --"} {
		get("/v1/aggregations?groupBy=both&clientId="+url.QueryEscape(hostile), &agg)
		if len(agg.Groups) != 0 {
			t.Fatalf("%q matched: %+v", hostile, agg)
		}
	}

	// Paging over HTTP: every record once.
	seen := map[string]bool{}
	target := "/v1/events?limit=4"
	for {
		var page struct {
			Events []struct {
				ID string `json:"id"`
			} `json:"events"`
			NextCursor *string `json:"nextCursor"`
		}
		get(target, &page)
		for _, e := range page.Events {
			if seen[e.ID] {
				t.Fatalf("%s listed twice", e.ID)
			}
			seen[e.ID] = true
		}
		if page.NextCursor == nil {
			break
		}
		target = "/v1/events?limit=4&cursor=" + url.QueryEscape(*page.NextCursor)
	}
	if len(seen) != 31 {
		t.Fatalf("listed %d records, want 31", len(seen))
	}
	get("/v1/events/"+chtest.EventID(3), nil)
	get("/v1/events/raw-0-30", nil)

	var st stats.Snapshot
	get("/v1/stats", &st)
	if st.Processed != 30 || st.Rejected != 1 || st.Duplicates != 0 || !st.Reconciled {
		t.Fatalf("stats %+v", st)
	}

	var seedList struct {
		Total  int `json:"total"`
		Events []struct {
			Status string `json:"status"`
		} `json:"events"`
	}
	get("/api/events?clientId=client_A&limit=5&skip=0", &seedList)
	if seedList.Total != 16 || len(seedList.Events) != 5 { // 15 processed + 1 rejected
		t.Fatalf("seed list %+v", seedList)
	}
	var seedAgg struct {
		Aggregation []struct {
			Count       int         `json:"count"`
			TotalAmount json.Number `json:"totalAmount"`
		} `json:"aggregation"`
		Statistics struct {
			TotalProcessed, Rejected, Failed int
		} `json:"statistics"`
	}
	for _, p := range []string{"/api/aggregation", "/api/aggregations"} {
		get(p+"?groupBy=none&startDate=2024-01-01&endDate=2024-01-02", &seedAgg)
		if len(seedAgg.Aggregation) != 1 || seedAgg.Aggregation[0].Count != 30 || seedAgg.Aggregation[0].TotalAmount != "3" ||
			seedAgg.Statistics.TotalProcessed != 30 || seedAgg.Statistics.Rejected != 1 || seedAgg.Statistics.Failed != 0 {
			t.Fatalf("seed aggregation %+v", seedAgg)
		}
	}
	get("/api/health", nil)
	get("/readyz", nil)
}
