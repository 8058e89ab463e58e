package httpapi

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/tally-dev/tally/event/control"
)

// KeyStore is what KeyCache reads: control.Registry.
type KeyStore interface {
	Authenticate(text string, now time.Time) (control.Key, error)
	Key(id string) (control.Key, bool)
}

// KeyCache remembers which key texts authenticated, so a producer's every
// request does not pay the parse and the SHA-256 of its secret again (a
// tenth of the ingestor's own CPU for a one-event request). It never
// remembers a verdict: each request still reads the key's current record,
// so a revocation, an expiry or a new secret for the id applies at once.
// Only texts that authenticated are kept, at most maxKeys of them.
type KeyCache struct {
	store   KeyStore
	maxKeys int

	mu     sync.RWMutex
	hashes map[string]string // key text -> the stored hash it matched
}

// NewKeyCache wraps store (a control.Registry).
func NewKeyCache(store KeyStore, maxKeys int) *KeyCache {
	return &KeyCache{store: store, maxKeys: max(maxKeys, 1), hashes: map[string]string{}}
}

// Authenticate is control.Registry.Authenticate, answered from memory for
// a text that matched the key's current hash before.
func (c *KeyCache) Authenticate(text string, now time.Time) (control.Key, error) {
	c.mu.RLock()
	hash, hit := c.hashes[text]
	c.mu.RUnlock()
	if hit {
		// A cached text is a well-formed key: tly_ + 12-character id + _ + secret.
		id, _, _ := strings.Cut(strings.TrimPrefix(text, control.Prefix), "_")
		if k, ok := c.store.Key(id); ok && k.Hash == hash {
			switch {
			case k.Revoked:
				return control.Key{}, control.ErrRevoked
			case k.Expired(now):
				return control.Key{}, control.ErrExpired
			}
			return k, nil
		}
	}
	k, err := c.store.Authenticate(text, now)
	if err != nil {
		if hit && !errors.Is(err, control.ErrRevoked) && !errors.Is(err, control.ErrExpired) {
			c.mu.Lock()
			delete(c.hashes, text)
			c.mu.Unlock()
		}
		return k, err
	}
	c.mu.Lock()
	if len(c.hashes) >= c.maxKeys {
		clear(c.hashes) // rare: more distinct keys than the cache holds
	}
	c.hashes[text] = k.Hash
	c.mu.Unlock()
	return k, nil
}
