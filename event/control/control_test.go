package control

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestKeysAuthenticate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	text, k, err := NewKey("acme", []string{ScopeQuery, ScopeIngest, ScopeQuery}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, "tly_") || len(text) != len("tly_")+12+1+43 {
		t.Fatalf("key text %q", text)
	}
	if strings.Contains(k.Hash, text[17:]) || len(k.Hash) != 64 {
		t.Fatal("the stored key must hold a hash, not the secret")
	}
	if len(k.Scopes) != 2 || !k.Has(ScopeQuery) || k.Has(ScopeAdmin) {
		t.Fatalf("scopes %v", k.Scopes)
	}
	id, secret, err := Parse(text)
	if err != nil || id != k.ID || !k.Matches(secret) || k.Matches(flipLast(secret)) {
		t.Fatalf("parse/match: %v %v", id, err)
	}
	for _, bad := range []string{"", "tly_", "Bearer x", text + "x", strings.ToUpper(text)} {
		if _, _, err := Parse(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if _, _, err := NewKey("Acme!", []string{ScopeQuery}, now); err == nil {
		t.Error("a bad tenant name was accepted")
	}
	if _, _, err := NewKey("acme", []string{"root"}, now); err == nil {
		t.Error("an unknown scope was accepted")
	}
	if _, _, err := NewKey("acme", nil, now); err == nil {
		t.Error("a key without scopes was accepted")
	}
}

// Keys and mappings written by one process are seen by another's registry:
// at start (up to what the topic held) and as they change (a revocation).
func TestRegistryFollowsTheControlTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	admin, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := CreateTopic(ctx, kadm.NewClient(admin), DefaultTopic, 1); err != nil {
		t.Fatal(err)
	}
	if err := CreateTopic(ctx, kadm.NewClient(admin), DefaultTopic, 1); err != nil {
		t.Fatalf("creating twice: %v", err)
	}
	w := NewWriter(admin, DefaultTopic)
	now := time.Now()
	text, k, err := NewKey("acme", []string{ScopeIngest}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.PutKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := w.PutMapping(ctx, TopicTenant{Topic: "events.raw", Tenant: "default"}); err != nil {
		t.Fatal(err)
	}

	r, err := NewRegistry(opts, DefaultTopic, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() { _ = r.Run(ctx) }()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := r.Authenticate(text, now)
	if err != nil || got.Tenant != "acme" {
		t.Fatalf("authenticate = %+v, %v", got, err)
	}
	if tenant, ok := r.TenantOf("events.raw"); !ok || tenant != "default" {
		t.Fatalf("mapping = %q %v", tenant, ok)
	}
	if _, err := r.Authenticate(flipLast(text), now); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("a wrong secret: %v", err)
	}
	other, _, _ := NewKey("acme", []string{ScopeIngest}, now)
	if _, err := r.Authenticate(other, now); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("an unknown key: %v", err)
	}

	// Revoke: a Plane's put returns once its registry applied the record,
	// so the very next check refuses the key.
	p := Plane{Registry: r, W: w}
	k.Revoked, k.RevokedAt = true, &now
	if err := p.PutKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Authenticate(text, now); !errors.Is(err, ErrRevoked) {
		t.Fatalf("a revoked key: %v", err)
	}
	// Expiry.
	exp := now.Add(time.Hour)
	text2, k2, _ := NewKey("acme", []string{ScopeQuery}, now)
	k2.ExpiresAt = &exp
	if err := p.PutKey(ctx, k2); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Authenticate(text2, now); err != nil {
		t.Fatalf("a key before its expiry: %v", err)
	}
	if _, err := r.Authenticate(text2, now.Add(2*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("an expired key: %v", err)
	}
	if len(r.Keys()) != 2 || len(r.Mappings()) != 1 {
		t.Fatalf("keys %d mappings %d", len(r.Keys()), len(r.Mappings()))
	}
}

// flipLast changes the last character of a key or secret to another one of
// the same alphabet.
func flipLast(s string) string {
	if s[len(s)-1] == 'A' {
		return s[:len(s)-1] + "B"
	}
	return s[:len(s)-1] + "A"
}

// A key revoked through one replica's plane is refused by another replica
// as soon as that replica reads the record — measured here against the
// 5-second promise of docs/api.md.
func TestRevocationReachesEveryReplica(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := CreateTopic(ctx, kadm.NewClient(cl), DefaultTopic, 1); err != nil {
		t.Fatal(err)
	}
	replicas := make([]*Registry, 3)
	for i := range replicas {
		r, err := NewRegistry(opts, DefaultTopic, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		go func() { _ = r.Run(ctx) }()
		if err := r.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		replicas[i] = r
	}
	w := NewWriter(cl, DefaultTopic)
	now := time.Now()
	text, k, _ := NewKey("acme", []string{ScopeQuery}, now)
	if err := (Plane{Registry: replicas[0], W: w}).PutKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	k.Revoked, k.RevokedAt = true, &now
	start := time.Now()
	off, err := w.putKey(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range replicas {
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		err := r.WaitApplied(wctx, off)
		wcancel()
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		if _, err := r.Authenticate(text, now); !errors.Is(err, ErrRevoked) {
			t.Fatalf("replica %d still accepts a revoked key: %v", i, err)
		}
	}
	t.Logf("revocation seen by %d replicas after %s", len(replicas), time.Since(start).Round(time.Millisecond))
}
