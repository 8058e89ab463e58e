package main

// Every aggregation the query step times is first checked against a truth
// computed independently of the read model: from the stored winners in the
// events table (one row per event id, read with plain SQL, no rollups),
// while nothing streams in and the books balance. b.exact ties the same
// totals to what the load generator itself acknowledged.

import (
	"cmp"
	"context"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/shopspring/decimal"
)

// groupStats is one group's exact figures.
type groupStats struct {
	count         int64
	sum, min, max *big.Rat
}

func (g *groupStats) merge(o groupStats) {
	if g.sum == nil {
		*g = groupStats{count: o.count, sum: new(big.Rat).Set(o.sum), min: o.min, max: o.max}
		return
	}
	g.count += o.count
	g.sum.Add(g.sum, o.sum)
	if o.min.Cmp(g.min) < 0 {
		g.min = o.min
	}
	if o.max.Cmp(g.max) > 0 {
		g.max = o.max
	}
}

// span is a time range [from, to) of the truth; zero times: all time.
type span struct{ from, to time.Time }

// truthRows reads count, sum, min and max per client × metric of the
// default tenant's stored events with a timestamp in each span, each event
// id once — every span in one scan of the events (at 100M events a scan
// per span would take most of an hour), spilling the GROUP BY event_id to
// disk past 2 GB rather than failing.
func (b *bench) truthRows(ctx context.Context, spans []span) ([]map[[2]string]groupStats, error) {
	conn, err := b.openClickHouse()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var cols []string
	for _, s := range spans {
		lo, hi := int64(-1<<62), int64(1<<62)
		if !s.from.IsZero() {
			lo, hi = s.from.UnixMilli(), s.to.UnixMilli()
		}
		in := fmt.Sprintf("t >= %d AND t < %d", lo, hi)
		cols = append(cols, "countIf("+in+")", "sumIf(amount, "+in+")", "minIf(amount, "+in+")", "maxIf(amount, "+in+")")
	}
	qctx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"max_bytes_before_external_group_by": 2_000_000_000, "max_memory_usage": 10_000_000_000}))
	rows, err := conn.Query(qctx, "SELECT client_id, metric, "+strings.Join(cols, ", ")+" FROM "+
		"(SELECT event_id, any(client_id) AS client_id, any(metric) AS metric, any(amount) AS amount, any(ts_ms) AS t "+
		"FROM "+b.db+".events WHERE tenant = 'default' GROUP BY event_id) GROUP BY client_id, metric")
	if err != nil {
		return nil, fmt.Errorf("truth: %w", err)
	}
	defer rows.Close()
	out := make([]map[[2]string]groupStats, len(spans))
	for i := range out {
		out[i] = map[[2]string]groupStats{}
	}
	for rows.Next() {
		var client, metric string
		n := make([]uint64, len(spans))
		dec := make([]decimal.Decimal, 3*len(spans))
		dest := []any{&client, &metric}
		for i := range spans {
			dest = append(dest, &n[i], &dec[3*i], &dec[3*i+1], &dec[3*i+2])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("truth: %w", err)
		}
		for i := range spans {
			if n[i] > 0 {
				out[i][[2]string{client, metric}] = groupStats{count: int64(n[i]), sum: dec[3*i].Rat(), min: dec[3*i+1].Rat(), max: dec[3*i+2].Rat()}
			}
		}
	}
	return out, rows.Err()
}

// group folds client × metric truth into the groups of groupBy.
func fold(truth map[[2]string]groupStats, groupBy string) map[[2]string]groupStats {
	out := map[[2]string]groupStats{}
	for k, s := range truth {
		var g [2]string
		if groupBy == "clientId" || groupBy == "both" {
			g[0] = k[0]
		}
		if groupBy == "metric" || groupBy == "both" {
			g[1] = k[1]
		}
		cur := out[g]
		cur.merge(s)
		out[g] = cur
	}
	return out
}

// verifyAggregation compares one /v1/aggregations answer with the truth;
// it returns "" when they agree, else the first difference.
func (b *bench) verifyAggregation(ctx context.Context, path, groupBy string, truth map[[2]string]groupStats) (string, error) {
	var r struct {
		Groups []struct {
			ClientID string `json:"clientId"`
			Metric   string `json:"metric"`
			Count    int64  `json:"count"`
			Sum      string `json:"sumExact"`
			Min      string `json:"minExact"`
			Max      string `json:"maxExact"`
		} `json:"groups"`
	}
	if err := b.api.getJSONKey(ctx, b.api.key, path, &r); err != nil {
		return "", err
	}
	want := fold(truth, groupBy)
	if len(r.Groups) != len(want) {
		return fmt.Sprintf("%d groups, truth has %d", len(r.Groups), len(want)), nil
	}
	for _, g := range r.Groups {
		t, ok := want[[2]string{g.ClientID, g.Metric}]
		if !ok {
			return fmt.Sprintf("group %q/%q is not in the truth", g.ClientID, g.Metric), nil
		}
		if d := statsDiff(fmt.Sprintf("group %q/%q", g.ClientID, g.Metric), g.Count, g.Sum, g.Min, g.Max, t); d != "" {
			return d, nil
		}
	}
	return "", nil
}

// statsDiff compares one answer's count and exact sum, min and max with
// the truth; "" when they agree, else the first difference (what names
// the group or bucket).
func statsDiff(what string, count int64, sum, mn, mx string, t groupStats) string {
	if count != t.count {
		return fmt.Sprintf("%s: count %d, truth %d", what, count, t.count)
	}
	for i, got := range []string{sum, mn, mx} {
		exp := []*big.Rat{t.sum, t.min, t.max}[i]
		if v, ok := new(big.Rat).SetString(got); !ok || v.Cmp(exp) != 0 {
			return fmt.Sprintf("%s: %s %s, truth %s", what, []string{"sum", "min", "max"}[i], got, exp.FloatString(9))
		}
	}
	return ""
}

// verifyQueries checks every aggregation case against the truth of its
// range; it returns per case "exact" or the difference.
func (b *bench) verifyQueries(ctx context.Context, cases []queryCase) (map[string]string, error) {
	var spans []span
	for _, c := range cases {
		if c.groupBy != "" && c.client == "" && !slices.Contains(spans, span{c.from, c.to}) {
			spans = append(spans, span{c.from, c.to})
		}
	}
	truths, err := b.truthRows(ctx, spans)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, c := range cases {
		if c.groupBy == "" {
			continue
		}
		if c.client != "" {
			diff, err := b.verifySeries(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			out[c.name] = cmp.Or(diff, "exact")
			continue
		}
		diff, err := b.verifyAggregation(ctx, c.path, c.groupBy, truths[slices.Index(spans, span{c.from, c.to})])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		out[c.name] = cmp.Or(diff, "exact")
	}
	return out, nil
}

// queryCase is one timed request of the query step.
type queryCase struct {
	name, path, key string
	groupBy         string // "" for /v1/stats
	from, to        time.Time
	client          string // set for one client's daily series (groupBy none, interval day)
}

// dailySeriesPath is one client's daily series over [from, to).
func dailySeriesPath(client string, from, to time.Time) string {
	q := url.Values{"clientId": {client}, "interval": {"day"}, "from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	return "/v1/aggregations?" + q.Encode()
}

// verifySeries compares one client's daily series with the truth per day
// from the stored events; "" when they agree, else the first difference.
func (b *bench) verifySeries(ctx context.Context, c queryCase) (string, error) {
	conn, err := b.openClickHouse()
	if err != nil {
		return "", err
	}
	defer conn.Close()
	rows, err := conn.Query(ctx, "SELECT intDiv(t, 86400000) * 86400 AS day, count(), sum(amount), min(amount), max(amount) FROM "+
		"(SELECT event_id, any(amount) AS amount, any(ts_ms) AS t FROM "+b.db+".events WHERE tenant = 'default' AND client_id = ? "+
		"GROUP BY event_id) WHERE t >= ? AND t < ? GROUP BY day", c.client, c.from.UnixMilli(), c.to.UnixMilli())
	if err != nil {
		return "", fmt.Errorf("truth: %w", err)
	}
	want := map[int64]groupStats{}
	for rows.Next() {
		var (
			day         int64
			n           uint64
			sum, mn, mx decimal.Decimal
		)
		if err := rows.Scan(&day, &n, &sum, &mn, &mx); err != nil {
			rows.Close()
			return "", fmt.Errorf("truth: %w", err)
		}
		want[day] = groupStats{count: int64(n), sum: sum.Rat(), min: mn.Rat(), max: mx.Rat()}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("truth: %w", err)
	}
	var r struct {
		Groups []struct {
			Series []struct {
				Bucket time.Time `json:"bucket"`
				Count  int64     `json:"count"`
				Sum    string    `json:"sumExact"`
				Min    string    `json:"minExact"`
				Max    string    `json:"maxExact"`
			} `json:"series"`
		} `json:"groups"`
	}
	if err := b.api.getJSONKey(ctx, b.api.key, c.path, &r); err != nil {
		return "", err
	}
	if len(want) == 0 {
		if len(r.Groups) != 0 {
			return fmt.Sprintf("%d groups, the truth has no events", len(r.Groups)), nil
		}
		return "", nil
	}
	if len(r.Groups) != 1 {
		return fmt.Sprintf("%d groups, want 1", len(r.Groups)), nil
	}
	got := r.Groups[0].Series
	if len(got) != len(want) {
		return fmt.Sprintf("%d days in the series, truth has %d", len(got), len(want)), nil
	}
	for _, d := range got {
		t, ok := want[d.Bucket.Unix()]
		if !ok {
			return fmt.Sprintf("day %s is not in the truth", d.Bucket.Format(time.DateOnly)), nil
		}
		if diff := statsDiff("day "+d.Bucket.Format(time.DateOnly), d.Count, d.Sum, d.Min, d.Max, t); diff != "" {
			return diff, nil
		}
	}
	return "", nil
}

func aggregationPath(groupBy string, from, to time.Time) string {
	q := url.Values{"groupBy": {groupBy}}
	if !from.IsZero() {
		q.Set("from", from.Format(time.RFC3339))
		q.Set("to", to.Format(time.RFC3339))
	}
	return "/v1/aggregations?" + q.Encode()
}
