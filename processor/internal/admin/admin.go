// Package admin serves the processor's operational HTTP API: health,
// readiness (false while durable writes are failing), Prometheus metrics, a
// status summary, and — only when fault injection is enabled — the fault
// switchboard the dashboard and the chaos suite drive.
package admin

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/event/telemetry"
	"github.com/tally-dev/tally/processor/internal/faults"
)

// Status is what GET /v1/status reports.
type Status struct {
	Instance           string  `json:"instance"`
	Ready              bool    `json:"ready"`
	AssignedPartitions []int32 `json:"assignedPartitions"`
	Retries            int64   `json:"retries"`
	LastError          string  `json:"lastError"`
	Batches            int64   `json:"batches"`
}

// Options wire the server to the running processor.
type Options struct {
	Gatherer prometheus.Gatherer
	Ready    func() bool
	Status   func() Status
	Faults   *faults.Board // nil: fault injection disabled (403)
	// Auth guards the fault switchboard (admin scope).
	Auth   *auth.Checker
	Logger *slog.Logger
}

// Handler returns the admin routes.
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !o.Ready() {
			// The Health shape every service answers /readyz with.
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable",
				"checks": map[string]string{"pipeline": "not ready: partitions not assigned yet or writes failing"}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, o.Status())
	})
	mux.HandleFunc("/v1/faults", func(w http.ResponseWriter, r *http.Request) {
		caller, f := o.Auth.Check(r.Header, control.ScopeAdmin, "")
		if f != nil {
			writeError(w, f.Status, f.Code, f.Message)
			return
		}
		if r.Method != http.MethodGet && o.Logger != nil {
			o.Logger.Info("audit: fault switchboard", "key", caller.Key.ID, "tenant", caller.Key.Tenant, "method", r.Method)
		}
		if o.Faults == nil {
			writeError(w, http.StatusForbidden, "fault_injection_disabled", "fault injection is disabled; start the processor with TALLY_FAULT_INJECTION=true")
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, o.Faults.State())
		case http.MethodDelete:
			writeJSON(w, http.StatusOK, o.Faults.Clear())
		case http.MethodPut, http.MethodPost:
			var req faults.Request
			dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				writeError(w, http.StatusBadRequest, "invalid_body", "body must be a JSON object {target, mode, durationSeconds, slowMs}: "+err.Error())
				return
			}
			if dec.More() {
				writeError(w, http.StatusBadRequest, "invalid_body", "trailing data after the JSON object")
				return
			}
			st, err := o.Faults.Apply(req)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid_fault", err.Error())
				return
			}
			writeJSON(w, http.StatusOK, st)
		default:
			w.Header().Set("Allow", "GET, PUT, DELETE")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET, PUT or DELETE")
		}
	})
	// Go's profiles (CPU, heap, goroutines, …), for an admin key only: they
	// show where a batch's time goes without guessing (docs/operations.md).
	mux.HandleFunc("GET /debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		if _, f := o.Auth.Check(r.Header, control.ScopeAdmin, ""); f != nil {
			writeError(w, f.Status, f.Code, f.Message)
			return
		}
		telemetry.Profiles(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route")
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
