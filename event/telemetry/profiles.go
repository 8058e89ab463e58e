package telemetry

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// Profiles serves Go's runtime profiles under /debug/pprof/: the index,
// every named profile (heap, goroutine, …), and the CPU profile, trace,
// symbol and cmdline endpoints. It checks no credential: a service mounts
// it behind its admin scope (docs/operations.md, Profiles). No Tally
// service serves http.DefaultServeMux, where importing net/http/pprof also
// registers these.
func Profiles(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
	case "profile":
		pprof.Profile(w, r)
	case "trace":
		pprof.Trace(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "cmdline":
		pprof.Cmdline(w, r)
	default:
		pprof.Index(w, r) // the index, or the profile the path names
	}
}
