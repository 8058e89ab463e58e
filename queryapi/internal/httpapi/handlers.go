package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tally-dev/tally/queryapi/internal/aggregate"
	"github.com/tally-dev/tally/queryapi/internal/decimal"
	"github.com/tally-dev/tally/queryapi/internal/eventlog"
	"github.com/tally-dev/tally/queryapi/internal/instant"
	"github.com/tally-dev/tally/queryapi/internal/stats"
)

// statsJSON is the figures of a group or bucket. Amounts are exact JSON
// numbers, which clients that parse numbers as doubles round; the *Exact
// strings carry the same values for them.
// statsJSON writes each amount twice, as an exact JSON number and as the
// same digits in a string; the number is a json.Number (written as it is,
// once checked) so each amount is formatted once, not per field.
type statsJSON struct {
	Count    uint64      `json:"count"`
	Sum      json.Number `json:"sum"`
	Avg      json.Number `json:"avg"`
	Min      json.Number `json:"min"`
	Max      json.Number `json:"max"`
	SumExact string      `json:"sumExact"`
	AvgExact string      `json:"avgExact"`
	MinExact string      `json:"minExact"`
	MaxExact string      `json:"maxExact"`
}

func toStatsJSON(s aggregate.Stats) statsJSON {
	sum, avg, mn, mx := s.Sum.String(), s.Avg.String(), s.Min.String(), s.Max.String()
	return statsJSON{Count: s.Count, Sum: json.Number(sum), Avg: json.Number(avg), Min: json.Number(mn), Max: json.Number(mx),
		SumExact: sum, AvgExact: avg, MinExact: mn, MaxExact: mx}
}

type seriesJSON struct {
	Bucket instant.Instant `json:"bucket"`
	statsJSON
}

type groupJSON struct {
	ClientID *string `json:"clientId,omitempty"`
	Metric   *string `json:"metric,omitempty"`
	statsJSON
	Series []seriesJSON `json:"series,omitempty"`
}

type filtersJSON struct {
	ClientID []string          `json:"clientId"`
	Metric   []string          `json:"metric"`
	From     *instant.Instant  `json:"from"`
	To       *instant.Instant  `json:"to"`
	GroupBy  aggregate.GroupBy `json:"groupBy"`
	Interval *string           `json:"interval"`
}

type aggregationsJSON struct {
	Groups  []groupJSON `json:"groups"`
	Filters filtersJSON `json:"filters"`
}

// parseAggregation reads /v1/aggregations parameters.
func parseAggregation(raw string) (aggregate.Query, error) {
	p, err := newParams(raw)
	if err != nil {
		return aggregate.Query{}, err
	}
	if err := p.allow("clientId", "metric", "from", "to", "groupBy", "interval"); err != nil {
		return aggregate.Query{}, err
	}
	var q aggregate.Query
	if q.ClientIDs, err = p.many("clientId", aggregate.MaxFilterValues); err != nil {
		return q, err
	}
	if q.Metrics, err = p.many("metric", aggregate.MaxFilterValues); err != nil {
		return q, err
	}
	if q.From, _, err = p.instant("from"); err != nil {
		return q, err
	}
	if q.To, _, err = p.instant("to"); err != nil {
		return q, err
	}
	g, err := p.one("groupBy")
	if err != nil {
		return q, err
	}
	var ok bool
	if q.GroupBy, ok = aggregate.ParseGroupBy(g); !ok {
		return q, fmt.Errorf("groupBy: want none, clientId, metric or both, got %q", g)
	}
	iv, err := p.one("interval")
	if err != nil {
		return q, err
	}
	if q.Interval, ok = aggregate.ParseInterval(iv); !ok {
		return q, fmt.Errorf("interval: want minute, hour or day, got %q", iv)
	}
	if err := q.Validate(); err != nil {
		return q, err
	}
	return q, nil
}

func (s *Server) aggregations(c *gin.Context) {
	q, err := parseAggregation(c.Request.URL.RawQuery)
	if err != nil {
		badParam(c, err)
		return
	}
	q.Tenant = tenantOf(c)
	groups, err := s.d.Aggregator.Aggregate(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := aggregationsJSON{Groups: make([]groupJSON, 0, len(groups)), Filters: filtersJSON{
		ClientID: nonNil(q.ClientIDs), Metric: nonNil(q.Metrics), GroupBy: q.GroupBy,
		From: instantPtr(q.From), To: instantPtr(q.To),
	}}
	if q.Interval != aggregate.IntervalNone {
		iv := string(q.Interval)
		out.Filters.Interval = &iv
	}
	for _, g := range groups {
		gj := groupJSON{statsJSON: toStatsJSON(g.Stats)}
		if q.GroupBy == aggregate.GroupClientID || q.GroupBy == aggregate.GroupBoth {
			gj.ClientID = &g.ClientID
		}
		if q.GroupBy == aggregate.GroupMetric || q.GroupBy == aggregate.GroupBoth {
			gj.Metric = &g.Metric
		}
		for _, b := range g.Series {
			gj.Series = append(gj.Series, seriesJSON{Bucket: instant.Of(b.Start), statsJSON: toStatsJSON(b.Stats)})
		}
		out.Groups = append(out.Groups, gj)
	}
	c.JSON(http.StatusOK, out)
}

// Dimension limits.
const (
	defaultValues = 100
	maxValues     = 1000
)

// dimension serves /v1/clients and /v1/metrics: the distinct values, for
// pickers, from the read model's all-time rows.
func (s *Server) dimension(dim aggregate.Dimension, name string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := newParams(c.Request.URL.RawQuery)
		if err == nil {
			err = p.allow("prefix", "limit")
		}
		var prefix string
		if err == nil {
			prefix, err = p.one("prefix")
		}
		limit := defaultValues
		if err == nil {
			limit, err = p.integer("limit", defaultValues, 1, maxValues)
		}
		if err != nil {
			badParam(c, err)
			return
		}
		values, truncated, err := s.d.Aggregator.Values(c.Request.Context(), tenantOf(c), dim, prefix, limit)
		if err != nil {
			s.fail(c, err)
			return
		}
		if values == nil {
			values = []string{} // the document promises an array, never null
		}
		c.JSON(http.StatusOK, gin.H{name: values, "truncated": truncated})
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func instantPtr(t *time.Time) *instant.Instant {
	if t == nil {
		return nil
	}
	i := instant.Of(*t)
	return &i
}

type eventListJSON struct {
	Events     []eventlog.Summary `json:"events"`
	NextCursor *string            `json:"nextCursor"`
}

// parseList reads /v1/events parameters.
func parseList(raw string) (eventlog.ListQuery, error) {
	p, err := newParams(raw)
	if err != nil {
		return eventlog.ListQuery{}, err
	}
	if err := p.allow("clientId", "metric", "status", "from", "to", "limit", "cursor"); err != nil {
		return eventlog.ListQuery{}, err
	}
	var q eventlog.ListQuery
	for key, dst := range map[string]*[]string{"clientId": &q.ClientIDs, "metric": &q.Metrics} {
		v, err := p.one(key)
		if err != nil {
			return q, err
		}
		if v != "" {
			*dst = []string{v}
		}
	}
	st, err := p.one("status")
	if err != nil {
		return q, err
	}
	if st != "" {
		status, ok := eventlog.ParseStatus(st)
		if !ok {
			return q, fmt.Errorf("status: want processed, duplicate, conflict, rejected, dead_lettered or forwarded, got %q", st)
		}
		q.Statuses = []eventlog.Status{status}
	}
	if q.From, _, err = p.instant("from"); err != nil {
		return q, err
	}
	if q.To, _, err = p.instant("to"); err != nil {
		return q, err
	}
	if q.From != nil && q.To != nil && !q.From.Before(*q.To) {
		return q, errRange
	}
	if q.Limit, err = p.integer("limit", eventlog.DefaultLimit, 1, eventlog.MaxLimit); err != nil {
		return q, err
	}
	cur, err := p.one("cursor")
	if err != nil {
		return q, err
	}
	if cur != "" {
		c, err := eventlog.DecodeCursor(cur)
		if err != nil {
			return q, errors.New("cursor: not a cursor this API issued")
		}
		q.After = &c
	}
	return q, nil
}

func (s *Server) listEvents(c *gin.Context) {
	q, err := parseList(c.Request.URL.RawQuery)
	if err != nil {
		badParam(c, err)
		return
	}
	q.Tenant = tenantOf(c)
	items, next, err := s.d.Events.List(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := eventListJSON{Events: items}
	if out.Events == nil {
		out.Events = []eventlog.Summary{}
	}
	if next != nil {
		enc := next.Encode()
		out.NextCursor = &enc
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getEvent(c *gin.Context) {
	if !s.noParams(c) {
		return
	}
	id := c.Param("id")
	if _, _, _, err := eventlog.ParseID(id); err != nil {
		badParam(c, errors.New("id: want a 64-hex event id or raw-<partition>-<offset>"))
		return
	}
	d, err := s.d.Events.Get(c.Request.Context(), eventlog.DetailQuery{Tenant: tenantOf(c), ID: id})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

func (s *Server) stats(c *gin.Context) {
	if !s.noParams(c) {
		return
	}
	snap, err := s.snapshot(c, c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, snap)
}

// stream sends a stats snapshot every StreamInterval until the client
// leaves or the server shuts down. A failed tick is reported in-stream as
// an "error" event; the stream goes on, so a dashboard survives a blip.
func (s *Server) stream(c *gin.Context) {
	if !s.noParams(c) {
		return
	}
	ctx := c.Request.Context()
	first, err := s.tick(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	c.SSEvent("stats", first)
	c.Writer.Flush()

	ticker := time.NewTicker(s.d.StreamInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.streamsDone:
			return
		case <-ticker.C:
		}
		snap, err := s.tick(c)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.d.Logger.Warn("stream tick failed", "err", err)
			c.SSEvent("error", errorBody{Error: errorDetail{Code: "unavailable", Message: "stats temporarily unavailable"}})
		default:
			c.SSEvent("stats", snap)
		}
		c.Writer.Flush()
	}
}

func (s *Server) tick(c *gin.Context) (any, error) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.d.QueryTimeout)
	defer cancel()
	return s.snapshot(c, ctx)
}

// snapshot is the books as the caller may see them: an admin acting for
// no tenant in particular sees the whole pipeline, anyone else their
// tenant's view.
func (s *Server) snapshot(c *gin.Context, ctx context.Context) (stats.Snapshot, error) {
	snap, err := s.d.Stats.Snapshot(ctx)
	if err != nil {
		return snap, err
	}
	caller := callerOf(c)
	if caller.Admin() && !caller.Named {
		return snap, nil
	}
	return snap.For(caller.Tenant), nil
}

// seedEventJSON is one record in the seed's shape.
type seedEventJSON struct {
	EventID         string           `json:"eventId"`
	ClientID        *string          `json:"clientId"`
	Metric          *string          `json:"metric"`
	Amount          *decimal.Value   `json:"amount"`
	Timestamp       *instant.Instant `json:"timestamp"`
	Status          string           `json:"status"`
	ReceivedAt      instant.Instant  `json:"receivedAt"`
	Error           *string          `json:"error"`
	OriginalPayload string           `json:"originalPayload"`
}

type seedEventListJSON struct {
	Success bool            `json:"success"`
	Events  []seedEventJSON `json:"events"`
	Total   uint64          `json:"total"`
	Limit   int             `json:"limit"`
	Skip    int             `json:"skip"`
}

// seedStatuses maps the seed's status names; the seed had no duplicate
// records (it answered resends with the original), so it lists none.
var seedStatuses = map[string]eventlog.Status{
	"processed": eventlog.StatusProcessed,
	"rejected":  eventlog.StatusRejected,
	"failed":    eventlog.StatusDeadLettered,
}

// seedRange reads startDate/endDate, both inclusive on the event time. A
// date-only endDate covers that whole day, which is what a person typing
// endDate=2024-01-31 means.
func seedRange(p *params) (from, to *time.Time, err error) {
	if from, _, err = p.instant("startDate"); err != nil {
		return nil, nil, err
	}
	end, dateOnly, err := p.instant("endDate")
	if err != nil {
		return nil, nil, err
	}
	if end != nil {
		t := end.Add(time.Millisecond)
		if dateOnly {
			t = end.AddDate(0, 0, 1)
		}
		to = &t
	}
	if from != nil && to != nil && !from.Before(*to) {
		return nil, nil, errors.New("startDate must not be after endDate")
	}
	return from, to, nil
}

func (s *Server) seedEvents(c *gin.Context) {
	p, err := newParams(c.Request.URL.RawQuery)
	if err == nil {
		err = p.allow("clientId", "status", "startDate", "endDate", "limit", "skip")
	}
	if err != nil {
		badParam(c, err)
		return
	}
	q := eventlog.ListQuery{WithRaw: true, Tenant: tenantOf(c)}
	var client, status string
	if client, err = p.one("clientId"); err == nil {
		status, err = p.one("status")
	}
	if err == nil {
		q.From, q.To, err = seedRange(p)
	}
	if err == nil {
		q.Limit, err = p.integer("limit", 100, 1, eventlog.MaxLimit)
	}
	if err == nil {
		q.Offset, err = p.integer("skip", 0, 0, eventlog.MaxOffset)
	}
	if err != nil {
		badParam(c, err)
		return
	}
	if client != "" {
		q.ClientIDs = []string{client}
	}
	if status == "" {
		q.Statuses = []eventlog.Status{eventlog.StatusProcessed, eventlog.StatusRejected, eventlog.StatusDeadLettered}
	} else if st, ok := seedStatuses[status]; ok {
		q.Statuses = []eventlog.Status{st}
	} else {
		badParam(c, fmt.Errorf("status: want processed, rejected or failed, got %q", status))
		return
	}
	items, _, err := s.d.Events.List(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	total, err := s.d.Events.Count(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := seedEventListJSON{Success: true, Events: make([]seedEventJSON, 0, len(items)), Total: total, Limit: q.Limit, Skip: q.Offset}
	for _, it := range items {
		out.Events = append(out.Events, toSeedEvent(it))
	}
	c.JSON(http.StatusOK, out)
}

func toSeedEvent(it eventlog.Summary) seedEventJSON {
	e := seedEventJSON{
		EventID: it.ID, Amount: it.Amount, Timestamp: it.Timestamp, ReceivedAt: it.ReceivedAt,
		Status: string(it.Status), OriginalPayload: it.Raw,
	}
	if it.Status == eventlog.StatusDeadLettered {
		e.Status = "failed"
	}
	if it.ClientID != "" {
		e.ClientID = &it.ClientID
	}
	if it.Metric != "" {
		e.Metric = &it.Metric
	}
	if it.Rejection != nil {
		msg := it.Rejection.Message
		if it.Rejection.Code != "" {
			msg = it.Rejection.Code + ": " + msg
		}
		e.Error = &msg
	}
	return e
}

type seedIDJSON struct {
	ClientID *string `json:"clientId,omitempty"`
	Metric   *string `json:"metric,omitempty"`
}

type seedRowJSON struct {
	ID          seedIDJSON    `json:"_id"`
	Count       uint64        `json:"count"`
	TotalAmount decimal.Value `json:"totalAmount"`
	AvgAmount   decimal.Value `json:"avgAmount"`
	MinAmount   decimal.Value `json:"minAmount"`
	MaxAmount   decimal.Value `json:"maxAmount"`
}

type seedStatisticsJSON struct {
	TotalProcessed uint64 `json:"totalProcessed"`
	Rejected       uint64 `json:"rejected"`
	Failed         uint64 `json:"failed"`
}

type seedFiltersJSON struct {
	ClientID  *string           `json:"clientId"`
	Metric    *string           `json:"metric"`
	StartDate *string           `json:"startDate"`
	EndDate   *string           `json:"endDate"`
	GroupBy   aggregate.GroupBy `json:"groupBy"`
}

type seedAggregationJSON struct {
	Success     bool               `json:"success"`
	Aggregation []seedRowJSON      `json:"aggregation"`
	Statistics  seedStatisticsJSON `json:"statistics"`
	Filters     seedFiltersJSON    `json:"filters"`
}

// seedAggregation serves /api/aggregation(s). Unlike the seed, whose
// statistics repeated the processed count for rejected and failed,
// rejected counts distinct rejected records and failed dead-lettered ones
// (same client and time filters; a metric filter matches neither, as they
// have no metric).
func (s *Server) seedAggregation(c *gin.Context) {
	p, err := newParams(c.Request.URL.RawQuery)
	if err == nil {
		err = p.allow("clientId", "startDate", "endDate", "metric", "groupBy")
	}
	if err != nil {
		badParam(c, err)
		return
	}
	var (
		q              aggregate.Query
		client, metric string
		g              string
		filters        seedFiltersJSON
	)
	if client, err = p.one("clientId"); err == nil {
		if metric, err = p.one("metric"); err == nil {
			if g, err = p.one("groupBy"); err == nil {
				q.From, q.To, err = seedRange(p)
			}
		}
	}
	if err != nil {
		badParam(c, err)
		return
	}
	var ok bool
	if q.GroupBy, ok = aggregate.ParseGroupBy(g); !ok {
		badParam(c, fmt.Errorf("groupBy: want none, clientId, metric or both, got %q", g))
		return
	}
	if client != "" {
		q.ClientIDs, filters.ClientID = []string{client}, &client
	}
	if metric != "" {
		q.Metrics, filters.Metric = []string{metric}, &metric
	}
	if v, _ := p.one("startDate"); v != "" {
		filters.StartDate = &v
	}
	if v, _ := p.one("endDate"); v != "" {
		filters.EndDate = &v
	}
	filters.GroupBy = q.GroupBy
	q.Tenant = tenantOf(c)
	ctx := c.Request.Context()
	groups, err := s.d.Aggregator.Aggregate(ctx, q)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := seedAggregationJSON{Success: true, Aggregation: make([]seedRowJSON, 0, len(groups)), Filters: filters}
	for _, g := range groups {
		row := seedRowJSON{Count: g.Count, TotalAmount: g.Sum, AvgAmount: g.Avg, MinAmount: g.Min, MaxAmount: g.Max}
		if q.GroupBy == aggregate.GroupClientID || q.GroupBy == aggregate.GroupBoth {
			row.ID.ClientID = &g.ClientID
		}
		if q.GroupBy == aggregate.GroupMetric || q.GroupBy == aggregate.GroupBoth {
			row.ID.Metric = &g.Metric
		}
		out.Statistics.TotalProcessed += g.Count
		out.Aggregation = append(out.Aggregation, row)
	}
	count := func(st eventlog.Status) (uint64, error) {
		return s.d.Events.Count(ctx, eventlog.ListQuery{
			Tenant: q.Tenant, ClientIDs: q.ClientIDs, Metrics: q.Metrics, Statuses: []eventlog.Status{st},
			From: q.From, To: q.To, Limit: 1,
		})
	}
	if out.Statistics.Rejected, err = count(eventlog.StatusRejected); err == nil {
		out.Statistics.Failed, err = count(eventlog.StatusDeadLettered)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

type seedHealthJSON struct {
	Status    string          `json:"status"`
	Timestamp instant.Instant `json:"timestamp"`
}

func (s *Server) seedHealth(c *gin.Context) {
	if !s.noParams(c) {
		return
	}
	c.JSON(http.StatusOK, seedHealthJSON{Status: "ok", Timestamp: instant.Of(s.d.Now())})
}
