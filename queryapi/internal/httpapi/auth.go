package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/control"
)

// ControlPlane is the key and mapping store the admin routes manage
// (control.Registry for reads, control.Writer for writes).
type ControlPlane interface {
	Keys() []control.Key
	Key(id string) (control.Key, bool)
	Mappings() []control.TopicTenant
	PutKey(ctx context.Context, k control.Key) error
	PutMapping(ctx context.Context, m control.TopicTenant) error
}

// caller is who a request comes from; Named says the request named its
// tenant explicitly (an admin acting for one tenant).
type caller struct {
	auth.Caller
	Named bool
}

const callerKey = "tally.caller"

// authn authenticates every request of a route group for scope. The
// optional tenant parameter (admin keys only, for another tenant) is taken
// out of the query before the handler reads its parameters.
func (s *Server) authn(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		tenant, rest, err := takeTenant(c.Request.URL.RawQuery)
		if err != nil {
			badParam(c, err)
			c.Abort()
			return
		}
		if !s.d.Auth.Disabled() && !s.controlLoaded() {
			c.Header("Retry-After", "1")
			writeError(c, http.StatusServiceUnavailable, "unavailable", "the API keys are still loading; retry shortly")
			c.Abort()
			return
		}
		who, f := s.d.Auth.Check(c.Request.Header, scope, tenant)
		if f != nil {
			writeError(c, f.Status, f.Code, f.Message)
			c.Abort()
			return
		}
		c.Request.URL.RawQuery = rest
		c.Set(callerKey, caller{Caller: who, Named: tenant != ""})
		c.Next()
	}
}

// controlLoaded reports whether the control plane has been read.
func (s *Server) controlLoaded() bool {
	if s.d.ControlReady == nil {
		return true
	}
	select {
	case <-s.d.ControlReady:
		return true
	default:
		return false
	}
}

// takeTenant removes the tenant parameter from a raw query, leaving the
// rest byte for byte as it was.
func takeTenant(raw string) (string, string, error) {
	if !strings.Contains(raw, "tenant") {
		return "", raw, nil
	}
	var keep []string
	tenant, seen := "", false
	for _, part := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(part, "=")
		if key, err := url.QueryUnescape(k); err == nil && key == "tenant" {
			if seen {
				return "", "", errors.New("tenant: give it once")
			}
			val, err := url.QueryUnescape(v)
			if err != nil || val == "" {
				return "", "", errors.New("tenant: not a tenant name")
			}
			tenant, seen = val, true
			continue
		}
		keep = append(keep, part)
	}
	return tenant, strings.Join(keep, "&"), nil
}

func callerOf(c *gin.Context) caller {
	if v, ok := c.Get(callerKey); ok {
		return v.(caller)
	}
	// Routes without authentication act for nobody in particular.
	return caller{Caller: auth.Caller{Tenant: event.DefaultTenant}}
}

// tenantOf is the tenant a request reads.
func tenantOf(c *gin.Context) string { return callerOf(c).Tenant }

// keyJSON is a key as the admin routes show it: never the secret or its hash.
type keyJSON struct {
	ID          string         `json:"id"`
	Tenant      string         `json:"tenant"`
	Scopes      []string       `json:"scopes"`
	Name        string         `json:"name,omitempty"`
	CreatedAt   time.Time      `json:"createdAt"`
	ExpiresAt   *time.Time     `json:"expiresAt,omitempty"`
	Revoked     bool           `json:"revoked"`
	RevokedAt   *time.Time     `json:"revokedAt,omitempty"`
	RateLimit   *rateLimitJSON `json:"rateLimit,omitempty"`
	QuotaPerDay int64          `json:"quotaPerDay,omitempty"`
	Key         string         `json:"key,omitempty"` // only in the answer to a creation
}

type rateLimitJSON struct {
	EventsPerSecond float64 `json:"eventsPerSecond"`
}

func toKeyJSON(k control.Key) keyJSON {
	out := keyJSON{ID: k.ID, Tenant: k.Tenant, Scopes: k.Scopes, Name: k.Name, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt,
		Revoked: k.Revoked, RevokedAt: k.RevokedAt, QuotaPerDay: k.QuotaPerDay}
	if k.RateLimit > 0 {
		out.RateLimit = &rateLimitJSON{EventsPerSecond: k.RateLimit}
	}
	return out
}

type createKeyJSON struct {
	Tenant      string         `json:"tenant"`
	Scopes      []string       `json:"scopes"`
	Name        string         `json:"name"`
	RateLimit   *rateLimitJSON `json:"rateLimit"`
	QuotaPerDay int64          `json:"quotaPerDay"`
	ExpiresAt   *time.Time     `json:"expiresAt"`
}

// readJSON decodes a small JSON body strictly: one object, known fields.
func readJSON(c *gin.Context, into any) bool {
	dec := json.NewDecoder(io.LimitReader(c.Request.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		writeError(c, http.StatusBadRequest, "invalid_body", "the body must be one JSON object of the documented shape: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(c, http.StatusBadRequest, "invalid_body", "trailing data after the JSON object")
		return false
	}
	return true
}

func (s *Server) audit(c *gin.Context, action string, attrs ...any) {
	who := callerOf(c)
	s.d.Logger.Info("audit: "+action, append([]any{"by_key", who.Key.ID, "by_tenant", who.Key.Tenant}, attrs...)...)
}

func (s *Server) createKey(c *gin.Context) {
	var req createKeyJSON
	if !s.noParams(c) || !readJSON(c, &req) {
		return
	}
	now := s.d.Now()
	text, k, err := control.NewKey(req.Tenant, req.Scopes, now)
	if err == nil && req.ExpiresAt != nil && !req.ExpiresAt.After(now) {
		err = errors.New("expiresAt must be in the future")
	}
	if err == nil && (req.QuotaPerDay < 0 || req.RateLimit != nil && req.RateLimit.EventsPerSecond <= 0) {
		err = errors.New("rateLimit.eventsPerSecond must be positive and quotaPerDay not negative")
	}
	if err == nil && len(req.Name) > 256 {
		err = errors.New("name: at most 256 characters")
	}
	if err != nil {
		writeError(c, http.StatusBadRequest, "invalid_body", err.Error())
		return
	}
	k.Name, k.ExpiresAt, k.QuotaPerDay = req.Name, req.ExpiresAt, req.QuotaPerDay
	if req.RateLimit != nil {
		k.RateLimit = req.RateLimit.EventsPerSecond
	}
	if err := s.d.Control.PutKey(c.Request.Context(), k); err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, "key created", "key", k.ID, "tenant", k.Tenant, "scopes", strings.Join(k.Scopes, ","))
	out := toKeyJSON(k)
	out.Key = text
	c.JSON(http.StatusCreated, out)
}

func (s *Server) listKeys(c *gin.Context) {
	if !s.noParams(c) {
		return
	}
	who := callerOf(c)
	out := []keyJSON{}
	for _, k := range s.d.Control.Keys() {
		if who.Named && k.Tenant != who.Tenant {
			continue
		}
		out = append(out, toKeyJSON(k))
	}
	c.JSON(http.StatusOK, gin.H{"keys": out})
}

func (s *Server) revokeKey(c *gin.Context) {
	if !s.noParams(c) {
		return
	}
	k, ok := s.d.Control.Key(c.Param("id"))
	if !ok {
		writeError(c, http.StatusNotFound, "not_found", "no key with this id")
		return
	}
	if !k.Revoked {
		now := s.d.Now().UTC()
		k.Revoked, k.RevokedAt = true, &now
		if err := s.d.Control.PutKey(c.Request.Context(), k); err != nil {
			s.fail(c, err)
			return
		}
		s.audit(c, "key revoked", "key", k.ID, "tenant", k.Tenant)
	}
	c.JSON(http.StatusOK, toKeyJSON(k))
}

func (s *Server) listTopics(c *gin.Context) {
	if !s.noParams(c) {
		return
	}
	out := s.d.Control.Mappings()
	if out == nil {
		out = []control.TopicTenant{}
	}
	c.JSON(http.StatusOK, gin.H{"topics": out})
}

func (s *Server) mapTopic(c *gin.Context) {
	var req struct {
		Tenant string `json:"tenant"`
	}
	if !s.noParams(c) || !readJSON(c, &req) {
		return
	}
	topic := c.Param("topic")
	if topic == "" || len(topic) > 249 || strings.ContainsFunc(topic, func(r rune) bool {
		return !(r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		writeError(c, http.StatusBadRequest, "invalid_parameter", "topic: a Kafka topic name")
		return
	}
	m := control.TopicTenant{Topic: topic, Tenant: req.Tenant}
	if !control.TenantPattern.MatchString(m.Tenant) {
		writeError(c, http.StatusBadRequest, "invalid_body", fmt.Sprintf("tenant %q is not a valid tenant name", m.Tenant))
		return
	}
	if err := s.d.Control.PutMapping(c.Request.Context(), m); err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, "topic mapped", "topic", topic, "tenant", m.Tenant)
	c.JSON(http.StatusOK, m)
}

// whoamiJSON is what the caller's key is and which tenant it acts for.
type whoamiJSON struct {
	KeyID  string   `json:"keyId"`
	Tenant string   `json:"tenant"` // the tenant this request acted for
	Home   string   `json:"keyTenant"`
	Scopes []string `json:"scopes"`
	Name   string   `json:"name,omitempty"`
	// AuthDisabled is true on a test stack without authentication.
	AuthDisabled bool       `json:"authDisabled,omitempty"`
	ExpiresAt    *time.Time `json:"expiresAt,omitempty"`
}

// whoami answers who the key is: the dashboard's sign-in checks a key
// with it and shows the tenant.
func (s *Server) whoami(c *gin.Context) {
	if !s.noParams(c) {
		return
	}
	who := callerOf(c)
	c.JSON(http.StatusOK, whoamiJSON{KeyID: who.Key.ID, Tenant: who.Tenant, Home: who.Key.Tenant, Scopes: who.Key.Scopes,
		Name: who.Key.Name, AuthDisabled: s.d.Auth.Disabled(), ExpiresAt: who.Key.ExpiresAt})
}
