package httpapi

import (
	"net/http/pprof"
	"strings"

	"github.com/gin-gonic/gin"
)

// profiles serves Go's runtime profiles (CPU, heap, goroutines, …) under
// /debug/pprof/, behind the admin scope: where a request's CPU goes is
// measured on the running ingestor, not guessed from a micro-benchmark.
func profiles(c *gin.Context) {
	switch name := strings.TrimPrefix(c.Param("name"), "/"); name {
	case "profile":
		pprof.Profile(c.Writer, c.Request)
	case "trace":
		pprof.Trace(c.Writer, c.Request)
	case "symbol":
		pprof.Symbol(c.Writer, c.Request)
	case "cmdline":
		pprof.Cmdline(c.Writer, c.Request)
	case "":
		pprof.Index(c.Writer, c.Request)
	default:
		pprof.Handler(name).ServeHTTP(c.Writer, c.Request)
	}
}
