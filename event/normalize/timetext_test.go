package normalize

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// tsOf normalizes an event whose timestamp is the JSON value v.
func tsOf(e *Engine, v string) (string, *Rejection) {
	ev, rej := norm(e, `{"source":"c","amount":1,"timestamp":`+v+`}`)
	if rej != nil {
		return rej.Code, rej
	}
	return ev.Timestamp.Format("2006-01-02T15:04:05.000Z07:00"), nil
}

func TestTimestampDateOrder(t *testing.T) {
	def := newEngine(t)
	dmy := newEngine(t, func(c *Config) { c.Timestamp.DateOrder = "dmy" })
	mdy := newEngine(t, func(c *Config) {
		c.Profiles = []Profile{{Name: "us", ClientIDs: []string{"c"}, DateOrder: "mdy"}}
		c.Timestamp.DateOrder = "dmy" // the profile wins
	})
	ymd := newEngine(t, func(c *Config) { c.Timestamp.DateOrder = "ymd" })
	cases := []struct {
		e          *Engine
		value      string
		want, name string
	}{
		{def, `"01/02/2024"`, CodeTimestampAmbiguous, "no order"},
		{dmy, `"01/02/2024"`, "2024-02-01T00:00:00.000Z", "global dmy"},
		{mdy, `"01/02/2024"`, "2024-01-02T00:00:00.000Z", "profile mdy wins"},
		{mdy, `"13/02/2024"`, "2024-02-13T00:00:00.000Z", "one reading, whatever the order"},
		{dmy, `"01.02.24"`, "2024-02-01T00:00:00.000Z", "two-digit year, dmy"},
		{ymd, `"24/01/02"`, "2024-01-02T00:00:00.000Z", "two-digit year, ymd"},
		{def, `"24/01/02"`, CodeTimestampAmbiguous, "three readings"},
		{dmy, `"2024-01-02"`, "2024-01-02T00:00:00.000Z", "four-digit year first is always y-m-d"},
	}
	for _, c := range cases {
		if got, rej := tsOf(c.e, c.value); got != c.want {
			t.Errorf("%s: %s → %s (%v), want %s", c.name, c.value, got, rej, c.want)
		}
	}
}

func TestTimestampZoneAbbreviations(t *testing.T) {
	e := newEngine(t, func(c *Config) {
		c.Timestamp.ZoneAbbreviations = map[string]string{"IST": "+05:30", "CST": "Asia/Shanghai"}
		c.Profiles = []Profile{{Name: "dublin", ClientIDs: []string{"ie"}, ZoneAbbreviations: map[string]string{"IST": "+01:00"}}}
	})
	for _, c := range []struct{ client, value, want string }{
		{"c", `"2024-01-02 15:04:05 IST"`, "2024-01-02T09:34:05.000Z"},
		{"ie", `"2024-07-02 15:04:05 IST"`, "2024-07-02T14:04:05.000Z"},
		{"ie", `"Tue Jan 02 15:04:05 CST 2024"`, "2024-01-02T07:04:05.000Z"}, // global entry still applies
		{"c", `"2024-01-02 15:04:05 BST"`, CodeTimestampAmbiguous},
		{"c", `"2024-01-02 15:04:05 +0530 IST"`, "2024-01-02T09:34:05.000Z"},
		{"c", `"2024-01-02 15:04:05 +0100 PST"`, CodeTimestampUnparseable}, // contradicts the offset
		{"c", `"2024-07-02 15:04:05 ET"`, "2024-07-02T19:04:05.000Z"},      // a zone: summer time in July
		{"c", `"2024-01-02 15:04:05 ET"`, "2024-01-02T20:04:05.000Z"},
	} {
		ev, rej := norm(e, `{"source":"`+c.client+`","amount":1,"timestamp":`+c.value+`}`)
		got := ""
		if rej != nil {
			got = rej.Code
		} else {
			got = ev.Timestamp.Format("2006-01-02T15:04:05.000Z07:00")
		}
		if got != c.want {
			t.Errorf("%s %s → %s (%v), want %s", c.client, c.value, got, rej, c.want)
		}
	}
	for _, bad := range []map[string]string{{"ist": "+05:30"}, {"IST": "+5:30"}, {"IST": "Mars/Base"}, {"TOOLONG": "+01:00"}} {
		cfg := DefaultConfig()
		cfg.Timestamp.ZoneAbbreviations = bad
		if err := cfg.Validate(); err == nil {
			t.Errorf("zoneAbbreviations %v accepted", bad)
		}
	}
	cfg := DefaultConfig()
	cfg.Timestamp.DateOrder = "ydm"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "dateOrder") {
		t.Errorf("dateOrder ydm: %v", err)
	}
}

// Local times that a daylight-saving change skips or repeats are never guessed.
func TestTimestampDaylightSaving(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Timestamp.Timezone = "America/New_York" })
	for _, c := range []struct{ value, want string }{
		{`"2024-03-10 02:30:00"`, CodeTimestampUnparseable}, // skipped (ISO path)
		{`"Mar 10, 2024 2:30 AM"`, CodeTimestampUnparseable},
		{`"2024-11-03 01:30:00"`, CodeTimestampAmbiguous}, // repeated
		{`"Nov 3, 2024 1:30 AM"`, CodeTimestampAmbiguous},
		{`"2024-11-03 01:30:00 EDT"`, "2024-11-03T05:30:00.000Z"},
		{`"2024-11-03 01:30:00-05:00"`, "2024-11-03T06:30:00.000Z"},
		{`"2024-07-02 15:04:05"`, "2024-07-02T19:04:05.000Z"},
		{`20240310`, "2024-03-10T05:00:00.000Z"},
		{`"2024-03-10 02:30:00 Europe/Paris"`, "2024-03-10T01:30:00.000Z"}, // the named zone, not the default
	} {
		if got, rej := tsOf(e, c.value); got != c.want {
			t.Errorf("%s → %s (%v), want %s", c.value, got, rej, c.want)
		}
	}
}

func TestTimestampComments(t *testing.T) {
	e := newEngine(t)
	for _, c := range []struct{ value, want string }{
		{`"Tue, 02 Jan 2024 15:04:05 (PST)"`, "2024-01-02T23:04:05.000Z"},          // the only zone is in the comment
		{`"Tue, 02 Jan 2024 15:04:05 (Europe/Paris)"`, "2024-01-02T14:04:05.000Z"}, // an IANA name in a comment
		{`"Tue, 02 Jan 2024 15:04:05 (Pacific Time)"`, CodeTimestampUnparseable},   // a zone we cannot name
		{`"Tue, 02 Jan 2024 15:04:05 +0000 (Pacific Time)"`, "2024-01-02T15:04:05.000Z"},
		{`"Tue, 02 Jan 2024 15:04:05 (unclosed"`, CodeTimestampUnparseable},
	} {
		if got, rej := tsOf(e, c.value); got != c.want {
			t.Errorf("%s → %s (%v), want %s", c.value, got, rej, c.want)
		}
	}
}

// Configured layouts still run before the text reader.
func TestTimestampLayoutsFirst(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Timestamp.Layouts = []string{"02/01/2006"} })
	if got, rej := tsOf(e, `"01/02/2024"`); got != "2024-02-01T00:00:00.000Z" {
		t.Fatalf("layout not used: %s %v", got, rej)
	}
}

// tsLayout writes an instant the way one kind of producer does.
type tsLayout struct {
	name      string
	format    func(t time.Time) string
	precision time.Duration // what the layout keeps
	zones     bool          // writes a zone or offset; else the text is UTC
	twoDigit  bool          // two-digit year: instants from 1969 to 2068 only
	order     string        // dateOrder the engine needs
}

func goLayout(layout string, prec time.Duration, zones, twoDigit bool) tsLayout {
	return tsLayout{name: layout, format: func(t time.Time) string { return t.Format(layout) }, precision: prec, zones: zones, twoDigit: twoDigit}
}

var abbrevZones = []*time.Location{time.UTC, time.FixedZone("GMT", 0), time.FixedZone("CET", 3600), time.FixedZone("CEST", 7200),
	time.FixedZone("PST", -8*3600), time.FixedZone("EDT", -4*3600), time.FixedZone("JST", 9*3600), time.FixedZone("NZDT", 13*3600),
	time.FixedZone("ACST", 9*3600+1800), time.FixedZone("NST", -(3*3600 + 1800))}

func supportedLayouts() []tsLayout {
	ms := time.Millisecond
	ls := []tsLayout{
		goLayout(time.RFC3339Nano, time.Nanosecond, true, false),
		goLayout("2006-01-02T15:04:05.000Z0700", ms, true, false),
		goLayout("2006-01-02 15:04:05.999999", time.Microsecond, false, false),
		goLayout(time.RFC1123, time.Second, true, false),
		goLayout(time.RFC1123Z, time.Second, true, false),
		goLayout(time.RFC822Z, time.Minute, true, true),
		goLayout(time.RFC850, time.Second, true, true),
		goLayout(time.ANSIC, time.Second, false, false),
		goLayout(time.UnixDate, time.Second, true, false),
		goLayout(time.RubyDate, time.Second, true, false),
		goLayout("2006-01-02 15:04:05.999999999 -0700 MST", time.Nanosecond, true, false), // Go's time.String
		goLayout("Mon Jan 02 2006 15:04:05 GMT-0700 (Some Standard Time)", time.Second, true, false),
		goLayout("02/Jan/2006:15:04:05 -0700", time.Second, true, false),
		goLayout("2006:01:02 15:04:05", time.Second, false, false),
		goLayout("2006.01.02 15:04:05", time.Second, false, false),
		goLayout("20060102T150405-0700", time.Second, true, false),
		goLayout("2006年1月2日 15時04分05秒", time.Second, false, false),
		goLayout("January 2, 2006 3:04:05 PM MST", time.Second, true, false),
		goLayout("Monday, January 2, 2006 at 3:04pm -07:00", time.Minute, true, false),
		goLayout("2 Jan 2006 15:04:05.000", ms, false, false),
		goLayout("Jan _2 2006 3:04:05.000000 pm", time.Microsecond, false, false),
		goLayout("02-Jan-06 03.04.05 PM", time.Hour*24, false, true), // date part only is checked below
		// The formerly configured default layouts: the same instants as before.
		goLayout("Mon, 02 Jan 2006 15:04:05 -0700", time.Second, true, false),
		goLayout("Mon, 2 Jan 2006 15:04:05 -0700", time.Second, true, false),
		goLayout("02 Jan 2006 15:04:05 -0700", time.Second, true, false),
		goLayout("Jan 2, 2006", 24*time.Hour, false, false),
		goLayout("January 2, 2006", 24*time.Hour, false, false),
		goLayout("2 Jan 2006", 24*time.Hour, false, false),
		{name: "dd/mm/yyyy hh:mm:ss (dmy)", format: func(t time.Time) string { return t.Format("02/01/2006 15:04:05") }, precision: time.Second, order: "dmy"},
		{name: "m/d/yyyy h:mm PM (mdy)", format: func(t time.Time) string { return t.Format("1/2/2006 3:04 PM") }, precision: time.Minute, order: "mdy"},
		{name: "ISO week date", precision: time.Second, format: func(t time.Time) string {
			y, w := t.ISOWeek()
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			return fmt.Sprintf("%04d-W%02d-%dT%s", y, w, wd, t.Format("15:04:05Z07:00"))
		}, zones: true},
		{name: "ISO ordinal date", precision: time.Second, format: func(t time.Time) string {
			return fmt.Sprintf("%04d-%03d %s", t.Year(), t.YearDay(), t.Format("15:04:05"))
		}},
		{name: "epoch seconds", precision: time.Second, format: func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }},
		{name: "epoch ms string", precision: ms, format: func(t time.Time) string { return strconv.Quote(strconv.FormatInt(t.UnixMilli(), 10))[1:] }},
		{name: "compact yyyymmddhhmmss", precision: time.Second, format: func(t time.Time) string { return t.Format("20060102150405") }},
	}
	// "02-Jan-06 03.04.05 PM" (Oracle) keeps dots in the time, which the
	// reader does not take; drop it rather than test a form not supported.
	out := ls[:0]
	for _, l := range ls {
		if !strings.Contains(l.name, "03.04.05") {
			out = append(out, l)
		}
	}
	return out
}

// Formatting any instant in any supported layout and normalizing it gives
// back the instant (at the layout's precision, truncated to milliseconds).
func TestPropertyLayoutsRoundTrip(t *testing.T) {
	engines := map[string]*Engine{
		"":    newEngine(t),
		"dmy": newEngine(t, func(c *Config) { c.Timestamp.DateOrder = "dmy" }),
		"mdy": newEngine(t, func(c *Config) { c.Timestamp.DateOrder = "mdy" }),
	}
	layouts := supportedLayouts()
	rapid.Check(t, func(rt *rapid.T) {
		l := rapid.SampledFrom(layouts).Draw(rt, "layout")
		lo, hi := int64(100_000_000_000), int64(4102444799999) // 1973-03-03 .. 2099-12-31
		if l.twoDigit {
			hi = 3124137599999 // 2068-12-31
		}
		inst := time.UnixMilli(rapid.Int64Range(lo, hi).Draw(rt, "ms")).Add(time.Duration(rapid.IntRange(0, 999_999).Draw(rt, "ns")))
		loc := time.UTC
		if l.zones {
			if strings.Contains(l.name, "MST") {
				loc = rapid.SampledFrom(abbrevZones).Draw(rt, "zone")
			} else {
				loc = time.FixedZone("", rapid.IntRange(-14*4, 14*4).Draw(rt, "quarterHours")*900)
			}
		}
		local := inst.In(loc)
		// Truncate in local time so that whole-day layouts keep the local date.
		if l.precision >= time.Second {
			y, mo, d := local.Date()
			h, mi, s := local.Clock()
			switch l.precision {
			case 24 * time.Hour:
				h, mi, s = 0, 0, 0
			case time.Minute:
				s = 0
			}
			local = time.Date(y, mo, d, h, mi, s, 0, loc)
		} else {
			local = local.Truncate(l.precision)
		}
		text := l.format(local)
		value := text
		if !strings.HasPrefix(l.name, "epoch seconds") {
			b, _ := json.Marshal(text)
			value = string(b)
		}
		if l.name == "epoch ms string" {
			value = `"` + text
		}
		got, rej := tsOf(engines[l.order], value)
		want := local.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")
		if got != want {
			rt.Fatalf("%s: %s → %s (%v), want %s", l.name, value, got, rej, want)
		}
	})
}

// FuzzTimestamp: no text panics the reader, and none lands in 1970 unless
// it is an epoch number or names 1970 (or 1969 with an offset).
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"2024-01-02T15:04:05Z", "Tue, 02 Jan 2024 15:04:05 GMT", "Tue Jan  2 15:04:05 2024",
		"January 2nd, 2024 3:04 PM", "10/Oct/2000:13:55:36 -0700", "2024年1月2日 下午3:04", "2024-W01-2", "20240102",
		"2024", "1/2/2024", "oct 7, '70", "2024-01-02 15:04:05.5 +0000 UTC m=+0.000141", "(x)", "1970-01-01", "Jan 1 1970 (PST)"} {
		f.Add(s)
	}
	e, err := New(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := json.Marshal(s)
		if err != nil {
			return
		}
		ev, rej := e.Normalize(Input{Raw: []byte(`{"source":"c","amount":1,"timestamp":` + string(b) + `}`)})
		if rej != nil {
			if rej.Field != "timestamp" && rej.Code != CodeInvalidUTF8 && rej.Code != CodeTooLarge {
				t.Fatalf("%q: rejected on %s: %v", s, rej.Field, rej)
			}
			return
		}
		if ev.Timestamp.Before(time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC)) {
			trimmed := strings.TrimSpace(s)
			if !isEpochText([]byte(trimmed)) && !strings.Contains(s, "70") && !strings.Contains(s, "69") {
				t.Fatalf("%q read as %v: a 1970 date from a text that is not an epoch and names no 1970", s, ev.Timestamp)
			}
		}
		if ev.Timestamp.Nanosecond()%1e6 != 0 || ev.Timestamp.Location() != time.UTC {
			t.Fatalf("%q: bad timestamp %v", s, ev.Timestamp)
		}
	})
}
