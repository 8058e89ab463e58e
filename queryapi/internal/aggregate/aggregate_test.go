package aggregate

import (
	"strings"
	"testing"
	"time"
)

func TestBuild(t *testing.T) {
	from := time.Date(2024, 1, 1, 0, 0, 0, 500_000_000, time.UTC)
	to := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		m        Method
		q        Query
		contains []string
		absent   []string
		args     []any
	}{
		{
			name:     "none",
			m:        GroupByEventID,
			q:        Query{GroupBy: GroupNone},
			contains: []string{"SELECT count() AS n", "FROM tally.events GROUP BY event_id)"},
			absent:   []string{"WHERE", "LIMIT", "ORDER BY", "e_client", "e_metric", "e_ts"},
		},
		{
			name:     "both with day series and filters",
			q:        Query{ClientIDs: []string{"a", "b'--"}, Metrics: []string{"m"}, From: &from, To: &to, GroupBy: GroupBoth, Interval: IntervalDay},
			contains: []string{"SELECT e_client, e_metric, toUInt32(toUnixTimestamp(toStartOfDay(e_ts, 'UTC'))) AS e_bucket,", "WHERE client_id IN (?, ?) AND metric IN (?) AND ts >= toDateTime(?) AND ts_ms >= ? AND ts <= toDateTime(?) AND ts_ms < ?", "GROUP BY e_client, e_metric, e_bucket ORDER BY e_client, e_metric, e_bucket LIMIT 100001"},
			absent:   []string{"b'--"},
			args:     []any{"a", "b'--", "m", uint32(1704067200), int64(1704067200500), uint32(1704153600), int64(1704153600000)},
		},
		{
			name:     "metric by minute",
			m:        GroupByEventID,
			q:        Query{GroupBy: GroupMetric, Interval: IntervalMinute},
			contains: []string{"SELECT e_metric, toUInt32(toUnixTimestamp(toStartOfMinute(e_ts, 'UTC'))) AS e_bucket", "GROUP BY e_metric, e_bucket"},
			absent:   []string{"e_client"},
		},
		{
			name:     "client by hour",
			m:        GroupByEventID,
			q:        Query{GroupBy: GroupClientID, Interval: IntervalHour},
			contains: []string{"SELECT e_client, toUInt32(toUnixTimestamp(toStartOfHour(e_ts, 'UTC'))) AS e_bucket", "GROUP BY e_client, e_bucket"},
		},
		{
			name:     "final none",
			m:        Final,
			q:        Query{GroupBy: GroupNone},
			contains: []string{"SELECT count() AS n, toString(sum(amount)), toString(min(amount)), toString(max(amount)) FROM tally.events FINAL"},
			absent:   []string{"WHERE", "GROUP BY", "event_id"},
		},
		{
			name:     "final both hourly filtered",
			m:        Final,
			q:        Query{ClientIDs: []string{"a"}, GroupBy: GroupBoth, Interval: IntervalHour},
			contains: []string{"SELECT client_id, metric, toUInt32(toUnixTimestamp(toStartOfHour(ts, 'UTC'))) AS e_bucket, count() AS n", "FROM tally.events FINAL WHERE client_id IN (?) GROUP BY client_id, metric, e_bucket ORDER BY client_id, metric, e_bucket LIMIT 100001"},
			args:     []any{"a"},
		},
		{
			name:     "auto without time range is FINAL",
			q:        Query{GroupBy: GroupBoth},
			contains: []string{"FROM tally.events FINAL GROUP BY client_id, metric"},
		},
		{
			name:     "auto with a time range groups by event_id",
			q:        Query{GroupBy: GroupBoth, From: &from},
			contains: []string{"GROUP BY event_id)"},
			absent:   []string{"FINAL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := BuildWith("tally", tt.q, tt.m)
			for _, c := range tt.contains {
				if !strings.Contains(st.SQL, c) {
					t.Errorf("SQL lacks %q:\n%s", c, st.SQL)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(st.SQL, a) {
					t.Errorf("SQL has %q:\n%s", a, st.SQL)
				}
			}
			if strings.Count(st.SQL, "?") != len(st.Args) {
				t.Errorf("%d placeholders, %d args", strings.Count(st.SQL, "?"), len(st.Args))
			}
			if tt.args != nil {
				for i := range tt.args {
					if st.Args[i] != tt.args[i] {
						t.Errorf("arg %d = %#v, want %#v", i, st.Args[i], tt.args[i])
					}
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	day := func(d int) *time.Time { t := time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC); return &t }
	tests := []struct {
		q  Query
		ok bool
	}{
		{Query{GroupBy: GroupNone}, true},
		{Query{GroupBy: "x"}, false},
		{Query{GroupBy: GroupNone, Interval: "week"}, false},
		{Query{GroupBy: GroupNone, From: day(2), To: day(1)}, false},
		{Query{GroupBy: GroupNone, From: day(1), To: day(1)}, false},
		{Query{GroupBy: GroupNone, Interval: IntervalMinute, From: day(1), To: day(7)}, true},  // 8640 buckets
		{Query{GroupBy: GroupNone, Interval: IntervalMinute, From: day(1), To: day(9)}, false}, // 11520 buckets
		{Query{GroupBy: GroupNone, ClientIDs: make([]string, MaxFilterValues+1)}, false},
	}
	for i, tt := range tests {
		if err := tt.q.Validate(); (err == nil) != tt.ok {
			t.Errorf("case %d: err = %v, want ok=%v", i, err, tt.ok)
		}
	}
}
