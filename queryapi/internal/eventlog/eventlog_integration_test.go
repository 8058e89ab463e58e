//go:build integration

package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tally-dev/tally/queryapi/internal/chtest"
	"github.com/tally-dev/tally/queryapi/internal/eventlog"
)

// world is what the fixture stored, by expected listing id.
type world struct {
	store  *eventlog.Store
	status map[string]eventlog.Status
	client map[string]string
}

const base = int64(1_704_067_200_000) // 2024-01-01T00:00:00Z

// seed stores 40 processed events (every third with a physical duplicate
// row under another offset, every fifth written twice under the same
// offset), 10 duplicates-table copies, 12 rejected records (each written
// twice) and 5 dead letters. Received times collide on purpose so the
// keyset tiebreak is exercised.
func seed(t *testing.T) world {
	t.Helper()
	conn, db := chtest.DB(t)
	w := world{store: eventlog.NewStore(conn, db, "events.raw"), status: map[string]eventlog.Status{}, client: map[string]string{}}
	var rows, extra []chtest.Row
	off := int64(0)
	for i := range 40 {
		client := []string{"a", "b", "o'q"}[i%3]
		r := chtest.Row{EventID: chtest.EventID(i), ClientID: client, Metric: "m", Amount: "1.5", TsMs: base + int64(i)*60_000,
			ReceivedMs: base + int64(i/2)*1000, Partition: 0, Offset: off, Raw: fmt.Sprintf(`{"n":%d}`, i), InsertedMs: base}
		off++
		rows = append(rows, r)
		w.status[r.EventID], w.client[r.EventID] = eventlog.StatusProcessed, client
		if i%3 == 0 {
			d := r
			d.Offset, d.ReceivedMs = 1000+int64(i), r.ReceivedMs+5000
			extra = append(extra, d)
		}
		if i%5 == 0 {
			extra = append(extra, r)
		}
	}
	chtest.InsertEvents(t, conn, db, rows)
	chtest.InsertEvents(t, conn, db, extra)
	for i := range 10 {
		o := 2000 + int64(i)
		chtest.Insert(t, conn, "INSERT INTO "+db+".duplicates (event_id, topic, partition, offset, original_partition, original_offset, received_ms, detected_ms)",
			[]any{chtest.EventID(i), "events.raw", int32(1), o, int32(0), int64(i), base + int64(i)*1000, base + int64(i)*1000 + 10})
		w.status[fmt.Sprintf("raw-1-%d", o)], w.client[fmt.Sprintf("raw-1-%d", o)] = eventlog.StatusDuplicate, []string{"a", "b", "o'q"}[i%3]
	}
	for rep := range 2 { // reprocessed: same source offsets twice
		for i := range 12 {
			o := 3000 + int64(i)
			chtest.Insert(t, conn, "INSERT INTO "+db+".rejected_events (code, field, message, client_hint, raw, received_ms, topic, partition, offset, inserted_ms)",
				[]any{"amount_invalid", "amount", "bad amount", []string{"a", ""}[i%2], "{bad", base + int64(i)*1000, "events.raw", int32(2), o, int64(rep)})
			w.status[fmt.Sprintf("raw-2-%d", o)], w.client[fmt.Sprintf("raw-2-%d", o)] = eventlog.StatusRejected, []string{"a", ""}[i%2]
		}
	}
	for i := range 5 {
		o := 4000 + int64(i)
		chtest.Insert(t, conn, "INSERT INTO "+db+".dead_letters (reason, raw, received_ms, topic, partition, offset, inserted_ms)",
			[]any{"poison", "x", base + int64(i)*1000, "events.raw", int32(3), o, int64(0)})
		w.status[fmt.Sprintf("raw-3-%d", o)] = eventlog.StatusDeadLettered
	}
	return w
}

// walk pages through q and checks that order is strictly newest first and
// that no item repeats.
func walk(t *testing.T, s *eventlog.Store, q eventlog.ListQuery) []eventlog.Summary {
	t.Helper()
	var all []eventlog.Summary
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		items, next, err := s.List(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			key := string(it.Status) + "/" + it.ID
			if seen[key] {
				t.Fatalf("item %s repeated on page %d", key, pages)
			}
			seen[key] = true
			if n := len(all); n > 0 {
				prev := all[n-1]
				if prev.ReceivedAt.Before(it.ReceivedAt.Time) || prev.ReceivedAt.Equal(it.ReceivedAt.Time) && prev.ID < it.ID {
					t.Fatalf("order broken: %s@%s before %s@%s", prev.ID, prev.ReceivedAt, it.ID, it.ReceivedAt)
				}
			}
			all = append(all, it)
		}
		if next == nil {
			if len(items) > q.Limit {
				t.Fatalf("page of %d items, limit %d", len(items), q.Limit)
			}
			return all
		}
		q.After = next
	}
}

func ids(items []eventlog.Summary) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	slices.Sort(out)
	return out
}

func want(w world, keep func(id string) bool) []string {
	var out []string
	for id := range w.status {
		if keep(id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func TestListPagesEverythingExactlyOnce(t *testing.T) {
	w := seed(t)
	for _, limit := range []int{1, 7, 50, 1000} {
		t.Run(fmt.Sprint("limit=", limit), func(t *testing.T) {
			got := walk(t, w.store, eventlog.ListQuery{Limit: limit})
			if g, e := ids(got), want(w, func(string) bool { return true }); !slices.Equal(g, e) {
				t.Fatalf("listed %d items, want %d\n got %v\nwant %v", len(g), len(e), g, e)
			}
		})
	}
	for _, st := range eventlog.AllStatuses {
		t.Run(string(st), func(t *testing.T) {
			got := walk(t, w.store, eventlog.ListQuery{Limit: 4, Statuses: []eventlog.Status{st}})
			if g, e := ids(got), want(w, func(id string) bool { return w.status[id] == st }); !slices.Equal(g, e) {
				t.Fatalf("got %v\nwant %v", g, e)
			}
			for _, it := range got {
				if it.Status != st {
					t.Fatalf("status %s in a %s listing", it.Status, st)
				}
				if st == eventlog.StatusDuplicate && (it.ClientID == "" || it.Amount == nil || it.EventID == "") {
					t.Fatalf("duplicate without its original's fields: %+v", it)
				}
			}
		})
	}
}

func TestListFilters(t *testing.T) {
	w := seed(t)
	// A client name with a quote: bound, not spliced.
	got := walk(t, w.store, eventlog.ListQuery{Limit: 10, ClientIDs: []string{"o'q"}})
	if g, e := ids(got), want(w, func(id string) bool { return w.client[id] == "o'q" }); !slices.Equal(g, e) || len(e) == 0 {
		t.Fatalf("got %v\nwant %v", g, e)
	}
	for _, hostile := range []string{"a' OR '1'='1", `a\' OR 1=1 --`, "') UNION ALL SELECT 1 --"} {
		got := walk(t, w.store, eventlog.ListQuery{Limit: 10, ClientIDs: []string{hostile}, Metrics: []string{hostile}})
		if len(got) != 0 {
			t.Fatalf("%q matched %d items", hostile, len(got))
		}
	}
	// Received-time window [base+5s, base+10s): processed events whose
	// earliest copy arrived then (not a later duplicate copy).
	from, to := time.UnixMilli(base+5000), time.UnixMilli(base+10_000)
	got = walk(t, w.store, eventlog.ListQuery{Limit: 3, From: &from, To: &to, Statuses: []eventlog.Status{eventlog.StatusProcessed}})
	if len(got) != 10 { // events 10..19 (received base + (i/2) s)
		t.Fatalf("window listed %d processed events, want 10: %v", len(got), ids(got))
	}
	n, err := w.store.Count(context.Background(), eventlog.ListQuery{Statuses: []eventlog.Status{eventlog.StatusRejected}})
	if err != nil || n != 12 {
		t.Fatalf("rejected count %d (%v), want 12 (each written twice)", n, err)
	}
	// The seed's offset pagination.
	page, _, err := w.store.List(context.Background(), eventlog.ListQuery{Limit: 5, Offset: 10, WithRaw: true, Statuses: []eventlog.Status{eventlog.StatusProcessed}})
	if err != nil || len(page) != 5 || page[0].Raw == "" {
		t.Fatalf("offset page %d items, %v", len(page), err)
	}
}

func TestGetLineage(t *testing.T) {
	w := seed(t)
	ctx := context.Background()
	// Event 0: a physical copy at offset 1000, a same-offset rewrite, and a
	// duplicates-table copy at raw-1-2000.
	d, err := w.store.Get(ctx, chtest.EventID(0))
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != eventlog.StatusProcessed || d.Source.Offset != 0 || d.Raw != `{"n":0}` || d.Event == nil || d.Event.Amount.String() != "1.5" {
		t.Fatalf("detail %+v", d)
	}
	if d.Duplicates.Count != 2 || len(d.Duplicates.Copies) != 2 {
		t.Fatalf("lineage %+v, want the offset-1000 copy and raw-1-2000", d.Duplicates)
	}
	dup, err := w.store.Get(ctx, "raw-0-1000")
	if err != nil || dup.Status != eventlog.StatusDuplicate || dup.OriginalEventID != chtest.EventID(0) {
		t.Fatalf("physical copy: %+v %v", dup, err)
	}
	orig, err := w.store.Get(ctx, "raw-0-0")
	if err != nil || orig.Status != eventlog.StatusProcessed || orig.ID != "raw-0-0" {
		t.Fatalf("original by source: %+v %v", orig, err)
	}
	dup, err = w.store.Get(ctx, "raw-1-2001")
	if err != nil || dup.Status != eventlog.StatusDuplicate || dup.OriginalEventID != chtest.EventID(1) {
		t.Fatalf("duplicates-table copy: %+v %v", dup, err)
	}
	rej, err := w.store.Get(ctx, "raw-2-3001")
	if err != nil || rej.Status != eventlog.StatusRejected || rej.Rejection == nil || rej.Rejection.Code != "amount_invalid" || rej.Raw != "{bad" {
		t.Fatalf("rejected: %+v %v", rej, err)
	}
	dead, err := w.store.Get(ctx, "raw-3-4000")
	if err != nil || dead.Status != eventlog.StatusDeadLettered || dead.Rejection.Message != "poison" {
		t.Fatalf("dead letter: %+v %v", dead, err)
	}
	for _, id := range []string{"raw-9-9", chtest.EventID(999)} {
		if _, err := w.store.Get(ctx, id); !errors.Is(err, eventlog.ErrNotFound) {
			t.Fatalf("%s: err %v, want not found", id, err)
		}
	}
}
