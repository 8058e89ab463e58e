package httpapi_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tally-dev/tally/event/control"
	"github.com/tally-dev/tally/ingestor/internal/httpapi"
)

// countingStore is a key store that counts full authentications.
type countingStore struct {
	mu    sync.Mutex
	keys  map[string]control.Key
	calls int
}

func (s *countingStore) Authenticate(text string, now time.Time) (control.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	id, secret, err := control.Parse(text)
	if err != nil {
		return control.Key{}, err
	}
	k, ok := s.keys[id]
	switch {
	case !ok || !k.Matches(secret):
		return control.Key{}, control.ErrUnknownKey
	case k.Revoked:
		return control.Key{}, control.ErrRevoked
	case k.Expired(now):
		return control.Key{}, control.ErrExpired
	}
	return k, nil
}

func (s *countingStore) Key(id string) (control.Key, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	return k, ok
}

func (s *countingStore) put(k control.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.ID] = k
}

// TestKeyCache: a text that authenticated is not hashed again, but every
// request sees the key's current record: revoked, expired or re-keyed
// keys are refused at once, and refused texts are never cached.
func TestKeyCache(t *testing.T) {
	now := time.Now()
	store := &countingStore{keys: map[string]control.Key{}}
	text, k, err := control.NewKey("acme", []string{control.ScopeIngest}, now)
	if err != nil {
		t.Fatal(err)
	}
	store.put(k)
	c := httpapi.NewKeyCache(store, 10)
	for range 5 {
		if got, err := c.Authenticate(text, now); err != nil || got.ID != k.ID {
			t.Fatalf("%+v %v", got, err)
		}
	}
	if store.calls != 1 {
		t.Fatalf("%d full authentications for 5 requests, want 1", store.calls)
	}
	later := now.Add(time.Hour)
	k.ExpiresAt = &later
	store.put(k)
	if _, err := c.Authenticate(text, later); !errors.Is(err, control.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	k.ExpiresAt, k.Revoked = nil, true
	store.put(k)
	if _, err := c.Authenticate(text, now); !errors.Is(err, control.ErrRevoked) {
		t.Fatalf("revoked: %v", err)
	}
	// The id gets another secret: the old text is unknown, and forgotten.
	_, other, _ := control.NewKey("acme", []string{control.ScopeIngest}, now)
	other.ID = k.ID
	store.put(other)
	before := store.calls
	for range 2 {
		if _, err := c.Authenticate(text, now); !errors.Is(err, control.ErrUnknownKey) {
			t.Fatalf("re-keyed: %v", err)
		}
	}
	if store.calls != before+2 {
		t.Fatalf("a refused text was cached (%d calls)", store.calls-before)
	}
	// Unknown and malformed texts are never cached.
	for _, bad := range []string{"tly_aaaaaaaaaaaa_" + "x", "nonsense"} {
		before := store.calls
		for range 2 {
			if _, err := c.Authenticate(bad, now); err == nil {
				t.Fatalf("%q authenticated", bad)
			}
		}
		if store.calls != before+2 {
			t.Fatalf("%q cached", bad)
		}
	}
}
