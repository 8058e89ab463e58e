package normalize

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// zoneSpec is what a zone abbreviation stands for: a fixed offset, an IANA
// zone (whose offset follows the date), or nothing certain.
type zoneSpec struct {
	offset    int    // seconds east of UTC
	zone      string // IANA name; the offset then comes from the zone database
	ambiguous bool
}

func fixed(h, m int) zoneSpec { return zoneSpec{offset: h*3600 + m*60} }

// builtinAbbrev is the abbreviation table, documented in the package doc.
// An abbreviation stands for one fixed offset (it names standard or summer
// time), except the US generic names, which name a zone. Abbreviations that
// name several zones in real use are ambiguous: a source's config must say
// what it means (timestamp.zoneAbbreviations).
var builtinAbbrev = map[string]zoneSpec{
	"UTC": fixed(0, 0), "GMT": fixed(0, 0), "UT": fixed(0, 0), "Z": fixed(0, 0),
	"WET": fixed(0, 0), "WEST": fixed(1, 0), "CET": fixed(1, 0), "CEST": fixed(2, 0), "MET": fixed(1, 0), "MEST": fixed(2, 0),
	"EET": fixed(2, 0), "EEST": fixed(3, 0), "MSK": fixed(3, 0),
	// RFC 5322 (mail and HTTP dates) defines these North American names.
	"EST": fixed(-5, 0), "EDT": fixed(-4, 0), "CDT": fixed(-5, 0), "MST": fixed(-7, 0), "MDT": fixed(-6, 0),
	"PST": fixed(-8, 0), "PDT": fixed(-7, 0),
	"AKST": fixed(-9, 0), "AKDT": fixed(-8, 0), "HST": fixed(-10, 0), "ADT": fixed(-3, 0),
	"NST": fixed(-3, -30), "NDT": fixed(-2, -30),
	"ET": {zone: "America/New_York"}, "CT": {zone: "America/Chicago"}, "MT": {zone: "America/Denver"}, "PT": {zone: "America/Los_Angeles"},
	"BRT": fixed(-3, 0), "ART": fixed(-3, 0),
	"JST": fixed(9, 0), "KST": fixed(9, 0), "HKT": fixed(8, 0), "SGT": fixed(8, 0), "PHT": fixed(8, 0), "AWST": fixed(8, 0),
	"WIB": fixed(7, 0), "WITA": fixed(8, 0), "WIT": fixed(9, 0), "ICT": fixed(7, 0), "PKT": fixed(5, 0), "NPT": fixed(5, 45),
	"ACST": fixed(9, 30), "ACDT": fixed(10, 30), "AEST": fixed(10, 0), "AEDT": fixed(11, 0),
	"NZST": fixed(12, 0), "NZDT": fixed(13, 0),
	"SAST": fixed(2, 0), "CAT": fixed(2, 0), "EAT": fixed(3, 0), "WAT": fixed(1, 0), "IDT": fixed(3, 0),
	// Names of more than one zone: India/Ireland/Israel, US Central/China/
	// Cuba, Atlantic/Arabia, British summer/Bangladesh, Gulf/South Georgia,
	// Samoa/Singapore.
	"IST": {ambiguous: true}, "CST": {ambiguous: true}, "AST": {ambiguous: true}, "BST": {ambiguous: true},
	"GST": {ambiguous: true}, "SST": {ambiguous: true},
}

// parseZoneSpec reads a configured abbreviation's meaning: "+05:30" or an
// IANA name.
func parseZoneSpec(v string, zones *zoneCache) (zoneSpec, error) {
	if strings.HasPrefix(v, "+") || strings.HasPrefix(v, "-") {
		h, m, ok := strings.Cut(v[1:], ":")
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if !ok || err1 != nil || err2 != nil || len(h) != 2 || len(m) != 2 || hh > 23 || mm > 59 {
			return zoneSpec{}, fmt.Errorf("%q is not an offset like +05:30", v)
		}
		off := hh*3600 + mm*60
		if v[0] == '-' {
			off = -off
		}
		return zoneSpec{offset: off}, nil
	}
	if zones.load([]byte(v)) == nil {
		return zoneSpec{}, fmt.Errorf("%q is neither an offset like +05:30 nor an IANA zone", v)
	}
	return zoneSpec{zone: v}, nil
}

// zoneNames lists the IANA names the text reader may load (zone and link
// names with an area, from the tz database). Checking the list first keeps
// hostile text from costing a zone-database search per event (a miss in
// time.LoadLocation takes ~100 µs) and keeps the answer the same whatever
// the server's files are. A zone added to the tz database later is read
// once it is added to zonenames.txt.
//
//go:embed zonenames.txt
var zoneNames string

// zoneCache loads IANA zones for one engine, once each: time.LoadLocation
// reads the zone database on every call.
type zoneCache struct {
	known map[string]bool
	m     sync.Map // string → *time.Location
}

func newZoneCache() *zoneCache {
	z := &zoneCache{known: map[string]bool{}}
	for _, line := range strings.Split(zoneNames, "\n") {
		if line != "" && line[0] != '#' {
			z.known[line] = true
		}
	}
	return z
}

// load returns the named zone, or nil if the name is not a known IANA name.
func (z *zoneCache) load(name []byte) *time.Location {
	if v, ok := z.m.Load(string(name)); ok {
		return v.(*time.Location)
	}
	if !z.known[string(name)] {
		return nil
	}
	loc, err := time.LoadLocation(string(name))
	if err != nil {
		return nil
	}
	z.m.Store(string(name), loc)
	return loc
}
