//go:build integration

package eventlog_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/queryapi/internal/chtest"
	"github.com/tally-dev/tally/queryapi/internal/eventlog"
)

const (
	base    = int64(1_704_067_200_000) // 2024-01-01T00:00:00Z
	stream2 = "events.raw/00000000000000000000000000000002"
	// bigAmt is the largest amount: scaled, far above 2^64, where 18.16's
	// toString misprints Decimal128.
	bigAmt = "9223372036854775807.000000001"
)

// item is one listing item the fixture stored, described independently of
// the package: its key and what the filters see.
type item struct {
	key            eventlog.Cursor
	client, metric string
	hasClient      bool
	hasMetric      bool
	raw            string
}

type world struct {
	store   *eventlog.Store
	items   []item // the default tenant's
	acme    []item // tenant acme's
	winners map[string]chtest.Winner
}

// newest orders keys as the API promises: newest first on (time, id,
// status, stream).
func newest(a, b eventlog.Cursor) int {
	return -cmp.Or(cmp.Compare(a.AtMs, b.AtMs), strings.Compare(a.ID, b.ID),
		strings.Compare(string(a.Status), string(b.Status)), strings.Compare(a.Stream, b.Stream))
}

func rawID(p int32, o int64) string { return fmt.Sprintf("raw-%d-%d", p, o) }

// seed stores, in the default tenant: 40 winners (written in batches, every
// batch twice, as a replay after a crash leaves them) whose event times are
// spread over minutes, years back, in the future, and five at one
// millisecond; duplicates of ten of them (one with a defaulted timestamp of
// its own) and two conflicts, every copy written twice; twelve rejections
// (twice), one of them again in a second incarnation of the topic; five
// dead letters and three forwarded strays. Tenant acme holds three winners,
// one with the id of a default-tenant event.
func seed(t *testing.T) world {
	t.Helper()
	conn, db := chtest.DB(t)
	w := world{store: eventlog.NewStore(conn, db, "events.raw"), winners: map[string]chtest.Winner{}}
	var winners []chtest.Winner
	offsets := map[int32]int64{}
	clients := []string{"a", "b", "o'q"}
	for i := range 40 {
		client := clients[i%3]
		part := int32(i % 3)
		ts := base + int64(i)*7*60_000 + int64(i)
		switch {
		case i >= 30 && i < 35:
			ts = base + 90*60_000 + 123 // five at one millisecond
		case i == 35:
			ts = base - 3*365*86_400_000 // years back
		case i == 36:
			ts = time.Now().Add(24 * time.Hour).UnixMilli() // in the future
		}
		amount := "1.5"
		if i == 13 {
			amount = bigAmt
		}
		wn := chtest.Winner{EventID: chtest.EventID(i), ClientID: client, Metric: []string{"m", "n"}[i%2], Amount: amount, TsMs: ts,
			ReceivedMs: base + int64(i)*1000, Partition: part, Offset: offsets[part], Raw: fmt.Sprintf(`{"n":%d}`, i)}
		offsets[part]++
		winners = append(winners, wn)
		w.winners[wn.EventID] = wn
		w.items = append(w.items, item{key: eventlog.Cursor{AtMs: ts, ID: wn.EventID, Status: eventlog.StatusProcessed, Stream: chtest.Stream},
			client: client, metric: wn.Metric, hasClient: true, hasMetric: true, raw: wn.Raw})
	}
	chtest.WriteWinners(t, conn, db, winners, 7, true)

	var copies []chtest.Copy
	for i := range 10 {
		orig := winners[i]
		c := chtest.Copy{EventID: orig.EventID, Partition: 1, Offset: 2000 + int64(i), OriginalPartition: orig.Partition,
			OriginalOffset: orig.Offset, ClientID: orig.ClientID, Metric: orig.Metric, Amount: orig.Amount, TsMs: orig.TsMs,
			ReceivedMs: base + int64(i)*1000 + 500, DetectedMs: base + int64(i)*1000 + 510}
		if i == 4 { // no timestamp sent: defaulted to its own received time
			c.TsMs, c.TsDefaulted = c.ReceivedMs, true
		}
		copies = append(copies, c)
	}
	for _, i := range []int{0, 5} {
		orig := winners[i]
		copies = append(copies, chtest.Copy{EventID: orig.EventID, Conflict: true, Partition: 1, Offset: 3000 + int64(i),
			OriginalPartition: orig.Partition, OriginalOffset: orig.Offset, ClientID: orig.ClientID, Metric: "other", Amount: "7.25",
			TsMs: orig.TsMs + 1, Raw: fmt.Sprintf(`{"conflict":%d}`, i), ReceivedMs: base + 60_000 + int64(i), DetectedMs: base + 60_010 + int64(i)})
	}
	chtest.WriteCopies(t, conn, db, copies)
	chtest.WriteCopies(t, conn, db, copies)
	for _, c := range copies {
		st, raw := eventlog.StatusDuplicate, ""
		if c.Conflict {
			st, raw = eventlog.StatusConflict, c.Raw
		}
		w.items = append(w.items, item{key: eventlog.Cursor{AtMs: c.ReceivedMs, ID: rawID(c.Partition, c.Offset), Status: st, Stream: chtest.Stream},
			client: c.ClientID, metric: c.Metric, hasClient: true, hasMetric: true, raw: raw})
	}

	var rejected []chtest.Rejection
	for i := range 12 {
		rejected = append(rejected, chtest.Rejection{Code: "amount_invalid", Field: "amount", Message: "bad amount",
			ClientHint: []string{"a", ""}[i%2], Raw: fmt.Sprintf("{bad %d", i), Partition: 2, Offset: 4000 + int64(i), ReceivedMs: base + int64(i)*1000})
	}
	// The topic deleted and recreated: the same partition and offset again.
	rejected = append(rejected, chtest.Rejection{Stream: stream2, Code: "timestamp_invalid", Message: "bad time", ClientHint: "b",
		Raw: "{again", Partition: 2, Offset: 4000, ReceivedMs: base + 500_000})
	chtest.WriteRejected(t, conn, db, rejected)
	chtest.WriteRejected(t, conn, db, rejected)
	for _, r := range rejected {
		w.items = append(w.items, item{key: eventlog.Cursor{AtMs: r.ReceivedMs, ID: rawID(r.Partition, r.Offset), Status: eventlog.StatusRejected,
			Stream: cmp.Or(r.Stream, chtest.Stream)}, client: r.ClientHint, hasClient: r.ClientHint != "", raw: r.Raw})
	}

	var dead []chtest.DeadLetter
	for i := range 5 {
		dead = append(dead, chtest.DeadLetter{Reason: "poison", Raw: fmt.Sprintf("dead %d", i), Partition: 3, Offset: 5000 + int64(i),
			ReceivedMs: base + int64(i)*1000}) // same times as rejections: ties broken by id
	}
	chtest.WriteDeadLetters(t, conn, db, dead)
	for _, d := range dead {
		w.items = append(w.items, item{key: eventlog.Cursor{AtMs: d.ReceivedMs, ID: rawID(d.Partition, d.Offset), Status: eventlog.StatusDeadLettered,
			Stream: chtest.Stream}, raw: d.Raw})
	}

	// Strays: event 10's forwarded copy won (it is the winner's record);
	// event 11's lost (its copy is duplicate raw-1-2001's position).
	strays := []chtest.Stray{
		{EventID: winners[10].EventID, ClientID: winners[10].ClientID, Partition: 4, Offset: 6000, ToPartition: winners[10].Partition,
			ToOffset: winners[10].Offset, ReceivedMs: base + 10*1000 - 100},
		{EventID: winners[1].EventID, ClientID: winners[1].ClientID, Partition: 4, Offset: 6001, ToPartition: 1, ToOffset: 2001,
			ReceivedMs: base + 1000 - 100},
	}
	chtest.WriteForwarded(t, conn, db, strays)
	for _, s := range strays {
		w.items = append(w.items, item{key: eventlog.Cursor{AtMs: s.ReceivedMs, ID: rawID(s.Partition, s.Offset), Status: eventlog.StatusForwarded,
			Stream: chtest.Stream}, client: s.ClientID, hasClient: true})
	}

	var acme []chtest.Winner
	for i, id := range []string{chtest.EventID(0), chtest.EventID(100), chtest.EventID(101)} {
		acme = append(acme, chtest.Winner{Tenant: "acme", EventID: id, ClientID: "a", Metric: "m", Amount: "2", TsMs: base + int64(i)*60_000,
			ReceivedMs: base, Partition: 0, Offset: 100 + int64(i), Raw: `{"acme":true}`})
	}
	chtest.WriteWinners(t, conn, db, acme, 10, false)
	for _, wn := range acme {
		w.acme = append(w.acme, item{key: eventlog.Cursor{AtMs: wn.TsMs, ID: wn.EventID, Status: eventlog.StatusProcessed, Stream: chtest.Stream}})
	}
	chtest.WriteCopies(t, conn, db, []chtest.Copy{{Tenant: "acme", EventID: chtest.EventID(100), Partition: 0, Offset: 900, ClientID: "a",
		Metric: "m", Amount: "2", TsMs: base + 60_000, ReceivedMs: base + 1, DetectedMs: base + 2}})
	w.acme = append(w.acme, item{key: eventlog.Cursor{AtMs: base + 1, ID: rawID(0, 900), Status: eventlog.StatusDuplicate, Stream: chtest.Stream}})
	return w
}

// expect lists the keys of items that keep selects, in API order.
func expect(items []item, keep func(item) bool) []eventlog.Cursor {
	var out []eventlog.Cursor
	for _, it := range items {
		if keep(it) {
			out = append(out, it.key)
		}
	}
	slices.SortFunc(out, newest)
	return out
}

// walk pages through q and returns the keys in the order listed, checking
// that no page is over the limit and that the walk ends.
func walk(t *testing.T, s *eventlog.Store, q eventlog.ListQuery) ([]eventlog.Cursor, []eventlog.Summary) {
	t.Helper()
	var keys []eventlog.Cursor
	var all []eventlog.Summary
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		items, next, err := s.List(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) > q.Limit || next != nil && len(items) != q.Limit {
			t.Fatalf("page %d: %d items with limit %d, next %v", pages, len(items), q.Limit, next)
		}
		for _, it := range items {
			keys = append(keys, it.Cursor())
			all = append(all, it)
		}
		if next == nil {
			return keys, all
		}
		q.After = next
	}
}

func sameKeys(t *testing.T, what string, got, want []eventlog.Cursor) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: listed %d items, want %d\n got %v\nwant %v", what, len(got), len(want), got, want)
	}
}

func TestListWalksEveryItemOnceNewestFirst(t *testing.T) {
	w := seed(t)
	all := expect(w.items, func(item) bool { return true })
	if len(all) != 40+12+13+5+2 {
		t.Fatalf("fixture has %d items", len(all))
	}
	for _, limit := range []int{1, 3, 50, 1000} {
		got, _ := walk(t, w.store, eventlog.ListQuery{Limit: limit})
		sameKeys(t, fmt.Sprint("limit ", limit), got, all)
	}
	for _, st := range eventlog.AllStatuses {
		got, _ := walk(t, w.store, eventlog.ListQuery{Limit: 4, Statuses: []eventlog.Status{st}})
		sameKeys(t, string(st), got, expect(w.items, func(it item) bool { return it.key.Status == st }))
	}
	both := []eventlog.Status{eventlog.StatusConflict, eventlog.StatusForwarded}
	got, _ := walk(t, w.store, eventlog.ListQuery{Limit: 2, Statuses: both})
	sameKeys(t, "conflicts and forwarded", got, expect(w.items, func(it item) bool { return slices.Contains(both, it.key.Status) }))

	// Tenants see only their own records; the default tenant is "".
	got, _ = walk(t, w.store, eventlog.ListQuery{Tenant: "acme", Limit: 2})
	sameKeys(t, "tenant acme", got, expect(w.acme, func(item) bool { return true }))
	got, _ = walk(t, w.store, eventlog.ListQuery{Tenant: "default", Limit: 1000})
	sameKeys(t, "tenant default", got, all)
	got, _ = walk(t, w.store, eventlog.ListQuery{Tenant: "nobody", Limit: 10})
	sameKeys(t, "unknown tenant", got, nil)
}

func TestListFieldsAndFilters(t *testing.T) {
	w := seed(t)
	ctx := context.Background()
	_, items := walk(t, w.store, eventlog.ListQuery{Limit: 1000})
	byID := map[string]eventlog.Summary{}
	for _, it := range items {
		byID[it.ID+"/"+it.Cursor().Stream] = it
	}
	get := func(id string) eventlog.Summary { return byID[id+"/"+chtest.Stream] }
	if it := get(chtest.EventID(13)); it.Amount == nil || it.Amount.String() != bigAmt || it.Timestamp == nil ||
		it.Timestamp.UnixMilli() != w.winners[chtest.EventID(13)].TsMs || it.ClientID != "b" || it.Source.Topic != "events.raw" {
		t.Fatalf("winner %+v", it)
	}
	// A duplicate with a defaulted timestamp shows its winner's time.
	if it := get("raw-1-2004"); it.Status != eventlog.StatusDuplicate || it.EventID != chtest.EventID(4) ||
		it.Timestamp.UnixMilli() != w.winners[chtest.EventID(4)].TsMs || it.Amount.String() != "1.5" {
		t.Fatalf("duplicate %+v", it)
	}
	if it := get("raw-1-3005"); it.Status != eventlog.StatusConflict || it.Metric != "other" || it.Amount.String() != "7.25" {
		t.Fatalf("conflict %+v", it)
	}
	if it := get("raw-4-6000"); it.ForwardedTo == nil || *it.ForwardedTo != (eventlog.Source{Topic: "events.raw", Partition: 1, Offset: 3}) ||
		it.EventID != chtest.EventID(10) {
		t.Fatalf("forwarded %+v", it)
	}
	if it := get("raw-3-5002"); it.Rejection == nil || it.Rejection.Code != "dead_lettered" || it.Rejection.Message != "poison" {
		t.Fatalf("dead letter %+v", it)
	}
	if it := byID["raw-2-4000/"+stream2]; it.Rejection == nil || it.Rejection.Code != "timestamp_invalid" {
		t.Fatalf("second incarnation's rejection %+v", it)
	}

	cases := []struct {
		name string
		q    eventlog.ListQuery
		keep func(item) bool
	}{
		{"client with a quote", eventlog.ListQuery{ClientIDs: []string{"o'q"}}, func(it item) bool { return it.hasClient && it.client == "o'q" }},
		{"two clients, one metric", eventlog.ListQuery{ClientIDs: []string{"a", "b"}, Metrics: []string{"m"}},
			func(it item) bool { return it.hasMetric && it.metric == "m" && (it.client == "a" || it.client == "b") }},
		{"metric of conflicts only", eventlog.ListQuery{Metrics: []string{"other"}}, func(it item) bool { return it.metric == "other" }},
		{"time window with millisecond edges", eventlog.ListQuery{From: ptr(time.UnixMilli(base + 1000)), To: ptr(time.UnixMilli(base + 90*60_000 + 123))},
			func(it item) bool { return it.key.AtMs >= base+1000 && it.key.AtMs < base+90*60_000+123 }},
		{"from the five tied events on", eventlog.ListQuery{From: ptr(time.UnixMilli(base + 90*60_000 + 123))},
			func(it item) bool { return it.key.AtMs >= base+90*60_000+123 }},
		{"years back only", eventlog.ListQuery{To: ptr(time.UnixMilli(base - 1))}, func(it item) bool { return it.key.AtMs < base }},
		{"processed in a range", eventlog.ListQuery{Statuses: []eventlog.Status{eventlog.StatusProcessed}, From: ptr(time.UnixMilli(base + 30*60_000)),
			To: ptr(time.UnixMilli(base + 200*60_000))}, func(it item) bool {
			return it.key.Status == eventlog.StatusProcessed && it.key.AtMs >= base+30*60_000 && it.key.AtMs < base+200*60_000
		}},
	}
	for _, hostile := range []string{"a' OR '1'='1", `a\' OR 1=1 --`, "') UNION ALL SELECT 1 --"} {
		cases = append(cases, struct {
			name string
			q    eventlog.ListQuery
			keep func(item) bool
		}{"hostile " + hostile, eventlog.ListQuery{ClientIDs: []string{hostile}, Metrics: []string{hostile}}, func(item) bool { return false }})
	}
	for _, c := range cases {
		want := expect(w.items, c.keep)
		for _, limit := range []int{2, 1000} {
			q := c.q
			q.Limit = limit
			got, _ := walk(t, w.store, q)
			sameKeys(t, c.name, got, want)
		}
		n, err := w.store.Count(ctx, c.q)
		if err != nil || n != uint64(len(want)) {
			t.Fatalf("%s: count %d (%v), want %d", c.name, n, err, len(want))
		}
	}

	// The seed's offset paging and raw text.
	all := expect(w.items, func(item) bool { return true })
	raws := map[eventlog.Cursor]string{}
	for _, it := range w.items {
		raws[it.key] = it.raw
	}
	page, next, err := w.store.List(ctx, eventlog.ListQuery{Limit: 5, Offset: 40, WithRaw: true})
	if err != nil || len(page) != 5 || next == nil {
		t.Fatalf("offset page %d items, next %v, %v", len(page), next, err)
	}
	for i, it := range page {
		if it.Cursor() != all[40+i] || it.Raw != raws[it.Cursor()] {
			t.Fatalf("offset page item %d: %+v raw %q, want %v raw %q", i, it.Cursor(), it.Raw, all[40+i], raws[all[40+i]])
		}
	}
	page, next, err = w.store.List(ctx, eventlog.ListQuery{Limit: 5, Offset: len(all) - 2})
	if err != nil || len(page) != 2 || next != nil {
		t.Fatalf("last offset page %d items, next %v, %v", len(page), next, err)
	}
	if _, _, err := w.store.List(ctx, eventlog.ListQuery{Limit: 0}); !errors.Is(err, eventlog.ErrInvalid) {
		t.Fatalf("limit 0: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestGetEventWithLineage(t *testing.T) {
	w := seed(t)
	ctx := context.Background()
	// Event 0: one duplicate and one conflict, each stored twice.
	d, err := w.store.Get(ctx, eventlog.DetailQuery{ID: chtest.EventID(0)})
	if err != nil {
		t.Fatal(err)
	}
	win := w.winners[chtest.EventID(0)]
	if d.Status != eventlog.StatusProcessed || d.ID != win.EventID || d.Raw != win.Raw || d.Source != (eventlog.Source{Topic: "events.raw"}) ||
		d.ReceivedAt.UnixMilli() != win.ReceivedMs || d.Event == nil || d.Event.ClientID != "a" || d.Event.Amount.String() != "1.5" ||
		d.Event.Timestamp.UnixMilli() != win.TsMs || d.Event.IDSource != event.IDSourceOf("", false, win.TsMs) ||
		d.Event.CoarseID != (win.TsMs%1000 == 0) {
		t.Fatalf("detail %+v event %+v", d, d.Event)
	}
	if d.Duplicates.Count != 2 || len(d.Duplicates.Copies) != 2 || d.Conflicts != 1 {
		t.Fatalf("lineage %+v conflicts %d", d.Duplicates, d.Conflicts)
	}
	dup, conflict := d.Duplicates.Copies[0], d.Duplicates.Copies[1] // oldest first
	if dup.Kind != eventlog.StatusDuplicate || dup.Source.Offset != 2000 || dup.Claimed != nil || dup.ReceivedAt.UnixMilli() != base+500 ||
		dup.DetectedAt.UnixMilli() != base+510 {
		t.Fatalf("duplicate copy %+v", dup)
	}
	if conflict.Kind != eventlog.StatusConflict || conflict.Source.Offset != 3000 || conflict.Claimed == nil || conflict.Claimed.Metric != "other" ||
		conflict.Claimed.Amount.String() != "7.25" || conflict.Claimed.Raw != `{"conflict":0}` || conflict.Claimed.Timestamp.UnixMilli() != win.TsMs+1 {
		t.Fatalf("conflict copy %+v claimed %+v", conflict, conflict.Claimed)
	}
	// Event 13: no copies, so no client is known (event_ids by id alone),
	// and an amount above 2^64 read exactly.
	d, err = w.store.Get(ctx, eventlog.DetailQuery{ID: chtest.EventID(13)})
	if err != nil || d.Event == nil || d.Event.Amount.String() != bigAmt || d.Duplicates.Count != 0 || d.Duplicates.Copies == nil || d.Conflicts != 0 {
		t.Fatalf("event 13: %+v %v", d, err)
	}
	// Events years back and in the future are found too.
	for _, i := range []int{35, 36} {
		if d, err := w.store.Get(ctx, eventlog.DetailQuery{ID: chtest.EventID(i)}); err != nil || d.Event.Timestamp.UnixMilli() != w.winners[chtest.EventID(i)].TsMs {
			t.Fatalf("event %d: %+v %v", i, d, err)
		}
	}
	// The same id in tenant acme is acme's own event; ids of one tenant
	// are not found in another.
	d, err = w.store.Get(ctx, eventlog.DetailQuery{Tenant: "acme", ID: chtest.EventID(0)})
	if err != nil || d.Raw != `{"acme":true}` || d.Duplicates.Count != 0 {
		t.Fatalf("acme's event 0: %+v %v", d, err)
	}
	d, err = w.store.Get(ctx, eventlog.DetailQuery{Tenant: "acme", ID: chtest.EventID(100)})
	if err != nil || d.Duplicates.Count != 1 {
		t.Fatalf("acme's event 100: %+v %v", d, err)
	}
	for _, q := range []eventlog.DetailQuery{{ID: chtest.EventID(100)}, {Tenant: "acme", ID: chtest.EventID(5)}, {ID: chtest.EventID(999)}} {
		if _, err := w.store.Get(ctx, q); !errors.Is(err, eventlog.ErrNotFound) {
			t.Fatalf("%+v: err %v, want not found", q, err)
		}
	}
	if _, err := w.store.Get(ctx, eventlog.DetailQuery{ID: "nope"}); !errors.Is(err, eventlog.ErrInvalid) {
		t.Fatalf("bad id: %v", err)
	}
}

func TestGetRawRecords(t *testing.T) {
	w := seed(t)
	ctx := context.Background()
	get := func(q eventlog.DetailQuery) eventlog.Detail {
		t.Helper()
		d, err := w.store.Get(ctx, q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		return d
	}
	win := w.winners[chtest.EventID(5)]
	d := get(eventlog.DetailQuery{ID: "raw-1-2005"})
	if d.Status != eventlog.StatusDuplicate || d.ID != "raw-1-2005" || d.OriginalEventID != win.EventID || d.Original == nil ||
		*d.Original != (eventlog.Source{Topic: "events.raw", Partition: win.Partition, Offset: win.Offset}) || d.Event == nil ||
		d.Event.Metric != win.Metric || d.Raw != "" || d.ReceivedAt.UnixMilli() != base+5500 || d.Duplicates.Count != 2 || d.Conflicts != 1 {
		t.Fatalf("duplicate copy: %+v", d)
	}
	d = get(eventlog.DetailQuery{ID: "raw-1-3005"})
	if d.Status != eventlog.StatusConflict || d.Raw != `{"conflict":5}` || d.Claimed == nil || d.Claimed.Amount.String() != "7.25" ||
		d.OriginalEventID != win.EventID || d.Event == nil || d.Event.Amount.String() != "1.5" || d.Conflicts != 1 {
		t.Fatalf("conflict copy: %+v", d)
	}
	d = get(eventlog.DetailQuery{ID: "raw-2-4001"})
	if d.Status != eventlog.StatusRejected || d.Rejection == nil || d.Rejection.Code != "amount_invalid" || d.Rejection.Field != "amount" ||
		d.Raw != "{bad 1" || d.Duplicates.Copies == nil {
		t.Fatalf("rejected: %+v", d)
	}
	// Two incarnations of the topic hold raw-2-4000: the newer is shown.
	if d = get(eventlog.DetailQuery{ID: "raw-2-4000"}); d.Rejection == nil || d.Rejection.Code != "timestamp_invalid" {
		t.Fatalf("raw-2-4000: %+v", d)
	}
	d = get(eventlog.DetailQuery{ID: "raw-3-5004"})
	if d.Status != eventlog.StatusDeadLettered || d.Rejection == nil || d.Rejection.Code != "dead_lettered" || d.Rejection.Message != "poison" || d.Raw != "dead 4" {
		t.Fatalf("dead letter: %+v", d)
	}
	win = w.winners[chtest.EventID(10)]
	d = get(eventlog.DetailQuery{ID: "raw-4-6000"})
	if d.Status != eventlog.StatusForwarded || d.ForwardedTo == nil || *d.ForwardedTo != (eventlog.Source{Topic: "events.raw", Partition: 1, Offset: 3}) ||
		d.Event == nil || d.Event.EventID != win.EventID || d.Raw != win.Raw {
		t.Fatalf("forwarded (copy won): %+v", d)
	}
	d = get(eventlog.DetailQuery{ID: "raw-4-6001"})
	if d.Status != eventlog.StatusForwarded || d.ForwardedTo == nil || d.ForwardedTo.Offset != 2001 || d.Event == nil || d.Raw != "" {
		t.Fatalf("forwarded (copy lost): %+v", d)
	}
	// A winner's own record.
	win = w.winners[chtest.EventID(4)]
	d = get(eventlog.DetailQuery{ID: rawID(win.Partition, win.Offset)})
	if d.Status != eventlog.StatusProcessed || d.ID != rawID(win.Partition, win.Offset) || d.Event == nil || d.Event.EventID != win.EventID ||
		d.Duplicates.Count != 1 {
		t.Fatalf("winner by source: %+v", d)
	}
	for _, q := range []eventlog.DetailQuery{{ID: "raw-9-9"}, {Tenant: "acme", ID: "raw-2-4001"}, {Tenant: "acme", ID: "raw-1-2005"},
		{Tenant: "acme", ID: "raw-4-6000"}, {Tenant: "nobody", ID: rawID(win.Partition, win.Offset)}} {
		if _, err := w.store.Get(ctx, q); !errors.Is(err, eventlog.ErrNotFound) {
			t.Fatalf("%+v: err %v, want not found", q, err)
		}
	}
	if d = get(eventlog.DetailQuery{Tenant: "acme", ID: "raw-0-900"}); d.Status != eventlog.StatusDuplicate {
		t.Fatalf("acme's duplicate: %+v", d)
	}
}

// reads counts the rows ClickHouse reads for the queries run with ctx.
type reads struct {
	mu   sync.Mutex
	rows uint64
}

func (r *reads) ctx() context.Context {
	return clickhouse.Context(context.Background(), clickhouse.WithProgress(func(p *clickhouse.Progress) {
		r.mu.Lock()
		r.rows += p.Rows
		r.mu.Unlock()
	}))
}

// TestReadsFollowTheSortKeys stores a year of events (one a minute, a
// million rows), copies of a tenth of them, and as many rejections, and
// checks that pages of events and lookups of an event read a small part of
// the tables: the sort keys bound them, not the table size. It logs what
// every operation reads.
func TestReadsFollowTheSortKeys(t *testing.T) {
	conn, db := chtest.DB(t)
	const n = 1_000_000
	clients := make([]string, 50)
	var names, slots []string
	for i := range clients {
		clients[i] = fmt.Sprintf("client_%d", i)
		names = append(names, "'"+clients[i]+"'")
		slots = append(slots, fmt.Sprint(event.Slot(clients[i])))
	}
	events := "SELECT 'default' AS tenant, lower(hex(SHA256(toString(number)))) AS event_id, " +
		"arrayElement([" + strings.Join(names, ",") + "], number % 50 + 1) AS client_id, concat('m', toString(number % 3)) AS metric, " +
		"toDecimal128(number % 1000, 9) AS amount, toInt64(" + fmt.Sprint(base) + ") + toInt64(number) * 31536 AS ts_ms, " +
		"ts_ms + 20 AS received_ms, toInt32(number % 50 % 8) AS partition, toInt64(intDiv(number, 8)) AS offset FROM numbers(" + fmt.Sprint(n) + ")"
	chtest.Exec(t, conn, "INSERT INTO "+db+".events ("+schema.Cols(schema.EventsColumns)+") SELECT tenant, event_id, client_id, metric, amount, "+
		"toDateTime(intDiv(ts_ms, 1000)), ts_ms, 0, '', 0, received_ms, '"+chtest.Stream+"', 'events.raw', partition, offset, "+
		"concat('{\"n\":', toString(ts_ms), '}'), received_ms FROM ("+events+")")
	chtest.Exec(t, conn, "INSERT INTO "+db+".event_ids ("+schema.Cols(schema.EventIDsColumns)+") SELECT arrayElement(["+strings.Join(slots, ",")+
		"], indexOf(["+strings.Join(names, ",")+"], client_id)), tenant, event_id, ts_ms, 0, stream, topic, partition, offset, inserted_ms FROM "+db+".events")
	chtest.Exec(t, conn, "INSERT INTO "+db+".state ("+schema.Cols(schema.StateColumns)+") SELECT tenant, toUInt8(1), toUInt8(0), toUInt32(0), "+
		"client_id, metric, stream, partition, toUInt64(max(offset) + 1), count(), sum(amount), min(amount), max(amount), min(ts_ms), max(ts_ms) FROM "+
		db+".events GROUP BY tenant, client_id, metric, stream, partition")
	chtest.Exec(t, conn, "INSERT INTO "+db+".duplicates ("+schema.Cols(schema.DuplicatesColumns)+") SELECT tenant, event_id, "+
		"if(offset % 7 = 0, 'conflict', 'duplicate'), stream, topic, partition, offset + 10000000, partition, offset, client_id, metric, amount, ts_ms, 0, "+
		"'', received_ms + 5, received_ms + 6 FROM "+db+".events WHERE offset % 10 = 0")
	chtest.Exec(t, conn, "INSERT INTO "+db+".rejected_events ("+schema.Cols(schema.RejectedColumns)+") SELECT tenant, 'amount_invalid', 'amount', "+
		"'bad', client_id, raw, received_ms + 7, stream, topic, partition, offset + 20000000, received_ms FROM "+db+".events WHERE offset % 10 = 1")

	s := eventlog.NewStore(conn, db, "events.raw")
	processed := []eventlog.Status{eventlog.StatusProcessed}
	mid := time.UnixMilli(base + n/2*31536)
	var withCopies, withoutCopies string
	if err := conn.QueryRow(context.Background(), "SELECT any(event_id) FROM "+db+".duplicates WHERE offset = 10000000 + 80").Scan(&withCopies); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(context.Background(), "SELECT any(event_id) FROM "+db+".events WHERE offset = 85").Scan(&withoutCopies); err != nil {
		t.Fatal(err)
	}
	first, next, err := s.List(context.Background(), eventlog.ListQuery{Limit: 50, Statuses: processed})
	if err != nil || len(first) != 50 || next == nil {
		t.Fatalf("first page: %d items, %v", len(first), err)
	}
	ops := []struct {
		name    string
		bounded bool // reads must stay far below the table
		run     func(context.Context) error
	}{
		{"first page of events", true, func(ctx context.Context) error {
			_, _, err := s.List(ctx, eventlog.ListQuery{Limit: 50, Statuses: processed})
			return err
		}},
		{"second page of events", true, func(ctx context.Context) error {
			_, _, err := s.List(ctx, eventlog.ListQuery{Limit: 50, Statuses: processed, After: next})
			return err
		}},
		{"page of events from mid-year", true, func(ctx context.Context) error {
			_, _, err := s.List(ctx, eventlog.ListQuery{Limit: 50, Statuses: processed, To: &mid})
			return err
		}},
		{"page of one client's events", true, func(ctx context.Context) error {
			items, _, err := s.List(ctx, eventlog.ListQuery{Limit: 50, Statuses: processed, ClientIDs: []string{"client_7"}})
			if err == nil && len(items) != 50 {
				err = fmt.Errorf("%d items", len(items))
			}
			return err
		}},
		{"seed page: skip 1000, raw text", true, func(ctx context.Context) error {
			_, _, err := s.List(ctx, eventlog.ListQuery{Limit: 100, Offset: 1000, WithRaw: true, Statuses: processed})
			return err
		}},
		{"event with copies", true, func(ctx context.Context) error {
			d, err := s.Get(ctx, eventlog.DetailQuery{ID: withCopies})
			if err == nil && d.Duplicates.Count != 1 {
				err = fmt.Errorf("lineage %+v", d.Duplicates)
			}
			return err
		}},
		{"rejected record by raw id", true, func(ctx context.Context) error {
			_, err := s.Get(ctx, eventlog.DetailQuery{ID: "raw-1-20000001"})
			return err
		}},
		{"count of one day's events", true, func(ctx context.Context) error {
			from, to := time.UnixMilli(base+86_400_000), time.UnixMilli(base+2*86_400_000)
			c, err := s.Count(ctx, eventlog.ListQuery{Statuses: processed, From: &from, To: &to})
			if err == nil && c != 86_400_000/31536+1 {
				err = fmt.Errorf("count %d", c)
			}
			return err
		}},
		{"event without copies (event_ids by id alone)", false, func(ctx context.Context) error {
			_, err := s.Get(ctx, eventlog.DetailQuery{ID: withoutCopies})
			return err
		}},
		{"duplicate by raw id (duplicates by source)", false, func(ctx context.Context) error {
			_, err := s.Get(ctx, eventlog.DetailQuery{ID: "raw-0-10000000"})
			return err
		}},
		{"first page of every status", false, func(ctx context.Context) error {
			_, _, err := s.List(ctx, eventlog.ListQuery{Limit: 50})
			return err
		}},
		{"count of all events", false, func(ctx context.Context) error {
			_, err := s.Count(ctx, eventlog.ListQuery{Statuses: processed})
			return err
		}},
	}
	for _, op := range ops {
		var r reads
		start := time.Now()
		if err := op.run(r.ctx()); err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		t.Logf("%-48s %9d rows read (%5.2f%% of the events) in %v", op.name, r.rows, 100*float64(r.rows)/n, time.Since(start).Round(time.Millisecond))
		if op.bounded && r.rows > n/20 {
			t.Errorf("%s read %d rows, more than 5%% of %d events", op.name, r.rows, n)
		}
	}
}
