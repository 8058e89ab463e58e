// Package auth is how every Tally service decides who is calling: it reads
// the caller's API key from a request (Authorization: Bearer, X-API-Key, or
// the user of HTTP basic auth — Segment's write-key convention), checks it
// against the control plane (package control) and a required scope, and
// says how to answer when it fails: 401 for no or unknown key, 403 for a
// scope the key lacks. The key's tenant is then the caller's tenant; only an
// admin key may act for another tenant, named explicitly.
//
// Authentication can be disabled for tests (TALLY_AUTH=disabled): then
// every caller is an admin of the default tenant, a warning is logged, and a
// service refuses to listen on anything but a loopback address — an open
// Tally is never one misconfiguration away from the internet.
package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/control"
)

// Authenticator checks key text (control.Registry is one).
type Authenticator interface {
	Authenticate(text string, now time.Time) (control.Key, error)
}

// Caller is who a request comes from.
type Caller struct {
	Key    control.Key
	Tenant string // the tenant the request acts for
}

// Admin reports whether the caller holds the admin scope.
func (c Caller) Admin() bool { return c.Key.Has(control.ScopeAdmin) }

// Failure is an authentication or authorization failure with its answer.
type Failure struct {
	Status  int
	Code    string
	Message string
}

func (f *Failure) Error() string { return f.Message }

// Credential extracts the key text from a request's headers, or "".
func Credential(h http.Header) string {
	if v := h.Get("Authorization"); v != "" {
		scheme, rest, _ := strings.Cut(v, " ")
		switch strings.ToLower(scheme) {
		case "bearer":
			return strings.TrimSpace(rest)
		case "basic":
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
			if err != nil {
				return ""
			}
			user, _, _ := strings.Cut(string(raw), ":")
			return user
		}
		return ""
	}
	return strings.TrimSpace(h.Get("X-API-Key"))
}

// Checker authenticates requests; nil Auth means authentication is
// disabled (tests only).
type Checker struct {
	Auth Authenticator
	Now  func() time.Time
}

// Disabled reports whether authentication is off.
func (c *Checker) Disabled() bool { return c.Auth == nil }

// Check authenticates h for scope ("" for any valid key). tenant is the tenant the request names
// explicitly ("" for none): only an admin key may name one other than its
// own.
func (c *Checker) Check(h http.Header, scope, tenant string) (Caller, *Failure) {
	if c.Auth == nil {
		k := control.Key{ID: "auth-disabled", Tenant: event.DefaultTenant, Scopes: []string{control.ScopeAdmin}}
		return Caller{Key: k, Tenant: orDefault(tenant, event.DefaultTenant)}, nil
	}
	text := Credential(h)
	if text == "" {
		return Caller{}, &Failure{Status: http.StatusUnauthorized, Code: "unauthorized",
			Message: "an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>"}
	}
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	k, err := c.Auth.Authenticate(text, now)
	if err != nil {
		msg := "the API key is not valid"
		switch {
		case errors.Is(err, control.ErrRevoked):
			msg = "the API key was revoked"
		case errors.Is(err, control.ErrExpired):
			msg = "the API key has expired"
		}
		return Caller{}, &Failure{Status: http.StatusUnauthorized, Code: "unauthorized", Message: msg}
	}
	if scope != "" && !k.Has(scope) {
		return Caller{}, &Failure{Status: http.StatusForbidden, Code: "forbidden",
			Message: fmt.Sprintf("the API key lacks the %q scope", scope)}
	}
	caller := Caller{Key: k, Tenant: k.Tenant}
	if tenant != "" && tenant != k.Tenant {
		if !caller.Admin() {
			return Caller{}, &Failure{Status: http.StatusForbidden, Code: "forbidden",
				Message: "only an admin key may act for another tenant"}
		}
		if !control.TenantPattern.MatchString(tenant) {
			return Caller{}, &Failure{Status: http.StatusBadRequest, Code: "invalid_parameter",
				Message: fmt.Sprintf("tenant %q is not a valid tenant name", tenant)}
		}
		caller.Tenant = tenant
	}
	return caller, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Mode reads TALLY_AUTH: "" or "enabled" (the default) or "disabled".
func Mode(v string) (enabled bool, err error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "enabled", "on", "true":
		return true, nil
	case "disabled", "off", "false":
		return false, nil
	}
	return false, fmt.Errorf("TALLY_AUTH must be enabled or disabled, got %q", v)
}

// CheckListen refuses a non-loopback listen address while authentication
// is disabled.
func CheckListen(addr string, enabled bool) error {
	if enabled {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("TALLY_AUTH=disabled is for tests on loopback only; refusing to listen on %q (use 127.0.0.1)", addr)
	}
	return nil
}

type ctxKey struct{}

// WithCaller stores the caller in a context.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// CallerFrom returns the caller stored by WithCaller.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(ctxKey{}).(Caller)
	return c, ok
}

// TenantSignature signs a record's tenant for the processor: the ingestor
// authenticated the producer and sets the tally-tenant header, but
// Kafka-native producers can write headers too, so the processor trusts
// the header only with this signature (HMAC-SHA256 with the secret the
// ingestors and processors share, over the tenant and the record's value).
// Without it, a record's tenant is its topic's mapping.
func TenantSignature(secret []byte, tenant string, value []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(tenant))
	m.Write([]byte{0})
	m.Write(value)
	return []byte(hex.EncodeToString(m.Sum(nil)))
}

// TenantKey signs and verifies record tenants (TenantSignature) with one
// secret, keeping keyed HMAC states in a pool: the ingestor signs every
// record and the processor verifies every record, and building the HMAC
// (two hashed key blocks, allocations) per record costs more than hashing a
// small event (9% of the processor's CPU in an end-to-end run). It is safe
// for concurrent use.
type TenantKey struct {
	pool sync.Pool // of *keyedHMAC
	set  bool
}

// keyedHMAC is one pooled HMAC state with its scratch space, so a
// signature allocates nothing.
type keyedHMAC struct {
	h      hash.Hash
	prefix []byte // the tenant and its 0 terminator
	sum    [sha256.Size]byte
}

// NewTenantKey returns the key for secret; with an empty secret nothing
// verifies.
func NewTenantKey(secret []byte) *TenantKey {
	key := bytes.Clone(secret)
	k := &TenantKey{set: len(key) > 0}
	k.pool.New = func() any { return &keyedHMAC{h: hmac.New(sha256.New, key)} }
	return k
}

// sum writes the hex signature of tenant and value into out.
func (k *TenantKey) sum(tenant string, value []byte, out *[2 * sha256.Size]byte) {
	m := k.pool.Get().(*keyedHMAC)
	m.h.Reset()
	m.prefix = append(append(m.prefix[:0], tenant...), 0)
	m.h.Write(m.prefix)
	m.h.Write(value)
	hex.Encode(out[:], m.h.Sum(m.sum[:0]))
	k.pool.Put(m)
}

// Sign is TenantSignature with this key.
func (k *TenantKey) Sign(tenant string, value []byte) []byte {
	var out [2 * sha256.Size]byte
	k.sum(tenant, value, &out)
	return out[:]
}

// Verify is VerifyTenant with this key: constant time, no allocation.
func (k *TenantKey) Verify(tenant string, value, sig []byte) bool {
	if !k.set {
		return false
	}
	var want [2 * sha256.Size]byte
	k.sum(tenant, value, &want)
	return hmac.Equal(want[:], sig)
}

// VerifyTenant checks a signature made by TenantSignature, in constant time.
// It builds the HMAC per call: services verify with a TenantKey, which the
// tests check against this definition.
func VerifyTenant(secret []byte, tenant string, value, sig []byte) bool {
	if len(secret) == 0 {
		return false
	}
	return hmac.Equal(TenantSignature(secret, tenant, value), sig)
}

// Settings are the authentication settings every service embeds in its
// configuration (environment variables).
type Settings struct {
	// Mode is TALLY_AUTH: enabled (the default) or disabled (tests only).
	Mode string `env:"TALLY_AUTH" envDefault:"enabled"`
	// TenantSecret is shared by every ingestor and processor: the ingestor
	// signs the tenant it authenticated, the processor verifies it.
	TenantSecret string `env:"TALLY_TENANT_SECRET"`
	// TenantSecretFile is the same secret read from a file (a mounted
	// Kubernetes or compose secret); TALLY_TENANT_SECRET wins when both
	// are set.
	TenantSecretFile string `env:"TALLY_TENANT_SECRET_FILE,file"`
	// PreviousTenantSecret is still accepted when verifying (never used to
	// sign) while a rotation drains: records signed before it stay valid.
	PreviousTenantSecret string `env:"TALLY_TENANT_SECRET_PREVIOUS"`
	// ControlTopic holds the API keys and topic mappings.
	ControlTopic string `env:"TALLY_CONTROL_TOPIC" envDefault:"tally.control"`
}

// Secret is the tenant-signing secret, from the variable or the file.
func (s Settings) Secret() []byte {
	if s.TenantSecret != "" {
		return []byte(s.TenantSecret)
	}
	return []byte(strings.TrimSpace(s.TenantSecretFile))
}

// Enabled reports whether authentication is on (Validate has accepted Mode).
func (s Settings) Enabled() bool {
	on, _ := Mode(s.Mode)
	return on
}

// Validate reports invalid settings; needSecret says whether the service
// signs or verifies tenants.
func (s Settings) Validate(needSecret bool) error {
	on, err := Mode(s.Mode)
	if err != nil {
		return err
	}
	if s.ControlTopic == "" {
		return errors.New("TALLY_CONTROL_TOPIC must not be empty")
	}
	if on && needSecret && len(s.Secret()) < 16 {
		return errors.New("TALLY_TENANT_SECRET (or the file TALLY_TENANT_SECRET_FILE names) must hold at least 16 characters, " +
			"shared by every ingestor and processor (make up writes one to .stack/tenant.secret)")
	}
	return nil
}
