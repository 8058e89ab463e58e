package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/queryapi/internal/aggregate"
	"github.com/tally-dev/tally/queryapi/internal/eventlog"
	"github.com/tally-dev/tally/queryapi/internal/stats"
)

// fakeStore records what the handlers asked for and answers with canned
// results or a canned error.
type fakeStore struct {
	err error

	groups  []aggregate.Group
	lastAgg *aggregate.Query

	values     []string
	lastValues []any

	items    []eventlog.Summary
	next     *eventlog.Cursor
	count    uint64
	lastList *eventlog.ListQuery
	detail   eventlog.Detail

	snap  stats.Snapshot
	ping  error
	panic bool
}

func (f *fakeStore) Aggregate(_ context.Context, q aggregate.Query) ([]aggregate.Group, error) {
	if f.panic {
		panic("boom")
	}
	f.lastAgg = &q
	return f.groups, f.err
}

func (f *fakeStore) Values(_ context.Context, _ string, dim aggregate.Dimension, prefix string, limit int) ([]string, bool, error) {
	f.lastValues = []any{dim, prefix, limit}
	var out []string
	for _, v := range f.values {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	if len(out) > limit {
		return out[:limit], true, f.err
	}
	return out, false, f.err
}

func (f *fakeStore) List(_ context.Context, q eventlog.ListQuery) ([]eventlog.Summary, *eventlog.Cursor, error) {
	f.lastList = &q
	return f.items, f.next, f.err
}

func (f *fakeStore) Count(_ context.Context, q eventlog.ListQuery) (uint64, error) {
	return f.count, f.err
}

func (f *fakeStore) Get(_ context.Context, q eventlog.DetailQuery) (eventlog.Detail, error) {
	if f.err != nil {
		return eventlog.Detail{}, f.err
	}
	if f.detail.ID != q.ID {
		return eventlog.Detail{}, eventlog.ErrNotFound
	}
	return f.detail, nil
}

func (f *fakeStore) Snapshot(context.Context) (stats.Snapshot, error) { return f.snap, f.err }
func (f *fakeStore) Ping(context.Context) error                       { return f.ping }

var errDown = errors.New("dial tcp: connection refused")

var fixedNow = time.Date(2024, 5, 6, 7, 8, 9, 10_000_000, time.UTC)

func newTestServer(t testing.TB, f *fakeStore) (*Server, *prometheus.Registry) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	reg := prometheus.NewRegistry()
	s, err := New(Deps{
		Aggregator: f, Events: f, Stats: f, ClickHouse: f,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: reg, Gatherer: reg, Spec: []byte(`{"openapi":"3.0.3"}`),
		QueryTimeout: time.Second, StreamInterval: 10 * time.Millisecond,
		Now:  func() time.Time { return fixedNow },
		Auth: &auth.Checker{}, Control: &memControl{keys: map[string]control.Key{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

// memControl is a control plane in memory, for the tests that run with
// authentication disabled.
type memControl struct {
	keys     map[string]control.Key
	mappings []control.TopicTenant
}

func (m *memControl) Keys() []control.Key {
	var out []control.Key
	for _, k := range m.keys {
		out = append(out, k)
	}
	return out
}
func (m *memControl) Key(id string) (control.Key, bool) { k, ok := m.keys[id]; return k, ok }
func (m *memControl) Mappings() []control.TopicTenant   { return m.mappings }
func (m *memControl) PutKey(_ context.Context, k control.Key) error {
	m.keys[k.ID] = k
	return nil
}
func (m *memControl) PutMapping(_ context.Context, t control.TopicTenant) error {
	m.mappings = append(m.mappings, t)
	return nil
}

func do(t testing.TB, s *Server, target string) (*http.Request, *httptest.ResponseRecorder) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return req, rec
}
