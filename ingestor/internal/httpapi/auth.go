package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/ingestor/internal/ratelimit"
)

// Admitter decides whether a key may send n more events;
// *ratelimit.Limiter satisfies it. It never fails: without its shared
// store it decides per replica.
type Admitter interface {
	Admit(ctx context.Context, key, tenant string, p ratelimit.Policy, n int) ratelimit.Verdict
}

const callerKey = "tally.caller"

// authn authenticates a route for scope before its body is read: a request
// without a valid key costs a header lookup, never a body read, a
// normalization or a produce. The credential is the key in Authorization:
// Bearer, X-API-Key, or the user of HTTP basic auth (Segment's write key),
// so Segment-compatible routes use this same middleware. An admin key may
// name another tenant with ?tenant=.
//
// Until the control topic has been read the answer is 503 with
// Retry-After, not 401: a key created a moment ago must not be told it is
// unknown because this replica just started.
func (h *handler) authn(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !h.cfg.Auth.Disabled() && !h.controlLoaded() {
			c.Header("Retry-After", h.retryAfter)
			writeError(c, http.StatusServiceUnavailable, "unavailable", "the API keys are still loading; retry shortly")
			return
		}
		who, f := h.cfg.Auth.Check(c.Request.Header, scope, c.Query("tenant"))
		if f != nil {
			if f.Status == http.StatusUnauthorized {
				c.Header("WWW-Authenticate", `Bearer realm="tally"`)
			}
			writeError(c, f.Status, f.Code, f.Message)
			return
		}
		c.Set(callerKey, who)
		c.Next()
	}
}

// controlLoaded reports whether the control topic has been read.
func (h *handler) controlLoaded() bool {
	if h.cfg.ControlReady == nil {
		return true
	}
	select {
	case <-h.cfg.ControlReady:
		return true
	default:
		return false
	}
}

// callerOf is the authenticated caller; routes without authn have none.
func callerOf(c *gin.Context) (auth.Caller, bool) {
	v, ok := c.Get(callerKey)
	if !ok {
		return auth.Caller{}, false
	}
	who, ok := v.(auth.Caller)
	return who, ok
}

// policy is the key's rate and quota: its own, else the configured
// defaults; of two daily quotas the smaller holds.
func (h *handler) policy(k control.Key) ratelimit.Policy {
	p := h.cfg.DefaultPolicy
	if k.RateLimit > 0 {
		p.EventsPerSecond = k.RateLimit
	}
	if k.QuotaPerDay > 0 && (p.QuotaPerDay == 0 || k.QuotaPerDay < p.QuotaPerDay) {
		p.QuotaPerDay = k.QuotaPerDay
	}
	return p
}

// policyText is the header text of one rate-limit policy.
type policyText struct {
	n             int
	window        time.Duration
	limit, policy string
}

func (h *handler) policyHeaders(n int, window time.Duration) *policyText {
	if pt := h.policyText.Load(); pt != nil && pt.n == n && pt.window == window {
		return pt
	}
	limit := strconv.Itoa(n)
	pt := &policyText{n: n, window: window, limit: limit, policy: limit + ";w=" + ratelimit.Seconds(window, 1)}
	h.policyText.Store(pt)
	return pt
}

// admit applies the caller's rate limit and quota to n events, or writes
// the refusal and returns false; nothing of a refused request is produced.
// With authentication disabled there are no keys and so no limits.
//
// The RateLimit fields follow draft-ietf-httpapi-ratelimit-headers-07
// (RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset in seconds, and
// RateLimit-Policy "<limit>;w=1"), sent on every answer of a rate-limited
// key; a refusal adds Retry-After.
func (h *handler) admit(c *gin.Context, who auth.Caller, n int) bool {
	if h.cfg.Limiter == nil || h.cfg.Auth.Disabled() {
		return true
	}
	p := h.policy(who.Key)
	v := h.cfg.Limiter.Admit(c.Request.Context(), who.Key.ID, who.Tenant, p, n)
	if v.Limit > 0 {
		// Assigned in canonical form (what Header.Set would make of
		// "RateLimit-Limit"), saving the canonicalization on every request;
		// the four values share one allocation and the policy's text is
		// built once per policy.
		hd := c.Writer.Header()
		pt := h.policyHeaders(v.Limit, v.Window)
		vals := [...]string{pt.limit, strconv.Itoa(v.Remaining), ratelimit.Seconds(v.Reset, 0), pt.policy}
		all := vals[:]
		hd["Ratelimit-Limit"] = all[0:1:1]
		hd["Ratelimit-Remaining"] = all[1:2:2]
		hd["Ratelimit-Reset"] = all[2:3:3]
		hd["Ratelimit-Policy"] = all[3:4:4]
	}
	switch v.Reason {
	case "":
		return true
	case ratelimit.ReasonBatch:
		writeError(c, http.StatusRequestEntityTooLarge, "batch_over_rate_limit",
			"the request holds "+strconv.Itoa(n)+" events but the API key may send at most "+strconv.Itoa(v.Limit)+
				" at once (its events per second); split the batch. Nothing was accepted")
	case ratelimit.ReasonQuota:
		c.Header("Retry-After", ratelimit.Seconds(v.RetryAfter, 1))
		writeError(c, http.StatusTooManyRequests, "quota_exceeded",
			"the tenant's daily quota of "+strconv.FormatInt(v.Quota, 10)+" events is spent ("+strconv.FormatInt(v.QuotaUsed, 10)+
				" counted today, UTC); it renews at midnight UTC. Nothing was accepted")
	default:
		c.Header("Retry-After", ratelimit.Seconds(v.RetryAfter, 1))
		writeError(c, http.StatusTooManyRequests, "rate_limited",
			"the API key is over its rate of "+strconv.FormatFloat(p.EventsPerSecond, 'g', -1, 64)+" events per second; retry after Retry-After seconds. Nothing was accepted")
	}
	return false
}
