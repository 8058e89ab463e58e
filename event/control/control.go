// Package control is Tally's control plane: API keys (who may do what, for
// which tenant) and the tenant mapping of Kafka topics (whose events a
// Kafka-native producer's records are).
//
// Both live in one compacted Kafka topic (default "tally.control"), written
// with acks=all, so they are as durable and replicated as the events
// themselves, and every service — ingestor, processor, query API — follows
// it into memory: a key revoked on one replica is refused by every replica
// within the time Kafka takes to deliver one record (well under the 5 s the
// product promises). No service needs a new dependency to read keys.
//
// Records are keyed by "key/<id>" and "topic/<name>"; the value is JSON. A
// revoked key keeps a record (revoked: true), so listings can show it.
//
// # Keys
//
// A key is "tly_" + a 12-character id + "_" + a 43-character secret (256
// random bits, base64url). Only SHA-256 of the secret is stored; the
// secret is shown once, when the key is created. A high-entropy secret
// needs no slow hash: nobody can search a 2^256 space, with or without the
// hash. Authentication compares hashes in constant time.
package control

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Scopes a key may hold.
const (
	ScopeIngest = "ingest" // send events
	ScopeQuery  = "query"  // read aggregations, events, stats, the stream
	ScopeAdmin  = "admin"  // manage keys and mappings, the fault switchboard, any tenant
)

// ValidScopes lists every scope.
var ValidScopes = []string{ScopeIngest, ScopeQuery, ScopeAdmin}

// Key is one API key as stored (never the secret).
type Key struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	Scopes    []string   `json:"scopes"`
	Name      string     `json:"name,omitempty"`
	Hash      string     `json:"hash"` // hex SHA-256 of the secret
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	Revoked   bool       `json:"revoked,omitempty"`
	// RevokedAt is when it was revoked.
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	// RateLimit bounds the events per second the key may send (0: none).
	RateLimit float64 `json:"eventsPerSecond,omitempty"`
	// QuotaPerDay bounds the events the key's tenant may send per UTC day
	// through this key (0: none).
	QuotaPerDay int64 `json:"quotaPerDay,omitempty"`
}

// Has reports whether the key holds scope (admin holds every scope).
func (k Key) Has(scope string) bool {
	return slices.Contains(k.Scopes, scope) || slices.Contains(k.Scopes, ScopeAdmin)
}

// Expired reports whether the key is past its expiry at now.
func (k Key) Expired(now time.Time) bool { return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) }

// TopicTenant maps a Kafka topic to the tenant that owns its records.
type TopicTenant struct {
	Topic  string `json:"topic"`
	Tenant string `json:"tenant"`
}

// Prefix starts every key.
const Prefix = "tly_"

var (
	idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	keyPattern = regexp.MustCompile(`^tly_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$`)
	// TenantPattern is what a tenant name may be.
	TenantPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
)

// ErrMalformed is returned for text that is not a key.
var ErrMalformed = errors.New("not a Tally API key")

// NewKey makes a key for tenant with scopes and returns its secret text
// (shown once) and its stored form.
func NewKey(tenant string, scopes []string, now time.Time) (string, Key, error) {
	if !TenantPattern.MatchString(tenant) {
		return "", Key{}, fmt.Errorf("tenant %q: lowercase letters, digits, '.', '_' and '-', 1 to 63 characters", tenant)
	}
	if len(scopes) == 0 {
		return "", Key{}, errors.New("a key needs at least one scope")
	}
	for _, s := range scopes {
		if !slices.Contains(ValidScopes, s) {
			return "", Key{}, fmt.Errorf("unknown scope %q (want %s)", s, strings.Join(ValidScopes, ", "))
		}
	}
	var idb [8]byte
	var secret [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", Key{}, err
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", Key{}, err
	}
	id := idEncoding.EncodeToString(idb[:])[:12]
	sec := base64.RawURLEncoding.EncodeToString(secret[:])
	text := Prefix + id + "_" + sec
	sum := sha256.Sum256([]byte(sec))
	k := Key{ID: id, Tenant: tenant, Scopes: slices.Compact(slices.Sorted(slices.Values(scopes))), Hash: hex.EncodeToString(sum[:]),
		CreatedAt: now.UTC().Truncate(time.Millisecond)}
	return text, k, nil
}

// Parse splits key text into its id and secret.
func Parse(text string) (id, secret string, err error) {
	m := keyPattern.FindStringSubmatch(text)
	if m == nil {
		return "", "", ErrMalformed
	}
	return m[1], m[2], nil
}

// Matches reports, in constant time, whether secret is the key's.
func (k Key) Matches(secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	want, err := hex.DecodeString(k.Hash)
	if err != nil || len(want) != len(sum) {
		return false
	}
	return subtle.ConstantTimeCompare(sum[:], want) == 1
}
