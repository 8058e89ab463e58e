package auth

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tally-dev/tally/event/control"
)

type keys map[string]control.Key

func (k keys) Authenticate(text string, _ time.Time) (control.Key, error) {
	if key, ok := k[text]; ok {
		if key.Revoked {
			return control.Key{}, control.ErrRevoked
		}
		return key, nil
	}
	return control.Key{}, control.ErrUnknownKey
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestCheck(t *testing.T) {
	c := &Checker{Auth: keys{
		"ing": {ID: "1", Tenant: "acme", Scopes: []string{control.ScopeIngest}},
		"adm": {ID: "2", Tenant: "ops", Scopes: []string{control.ScopeAdmin}},
		"old": {ID: "3", Tenant: "acme", Scopes: []string{control.ScopeIngest}, Revoked: true},
	}}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ing:"))
	for _, tc := range []struct {
		name          string
		h             http.Header
		scope, tenant string
		status        int
		want          string
	}{
		{"bearer", header("Authorization", "Bearer ing"), control.ScopeIngest, "", 0, "acme"},
		{"x-api-key", header("X-API-Key", "ing"), control.ScopeIngest, "", 0, "acme"},
		{"basic user (segment write key)", header("Authorization", basic), control.ScopeIngest, "", 0, "acme"},
		{"no key", header(), control.ScopeIngest, "", 401, ""},
		{"unknown key", header("Authorization", "Bearer nope"), control.ScopeIngest, "", 401, ""},
		{"revoked key", header("Authorization", "Bearer old"), control.ScopeIngest, "", 401, ""},
		{"wrong scope", header("Authorization", "Bearer ing"), control.ScopeQuery, "", 403, ""},
		{"other tenant, not admin", header("Authorization", "Bearer ing"), control.ScopeIngest, "globex", 403, ""},
		{"own tenant named", header("Authorization", "Bearer ing"), control.ScopeIngest, "acme", 0, "acme"},
		{"admin acts for a tenant", header("Authorization", "Bearer adm"), control.ScopeQuery, "acme", 0, "acme"},
		{"admin, bad tenant name", header("Authorization", "Bearer adm"), control.ScopeQuery, "Acme!", 400, ""},
		{"admin, own tenant", header("Authorization", "Bearer adm"), control.ScopeQuery, "", 0, "ops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caller, f := c.Check(tc.h, tc.scope, tc.tenant)
			if tc.status != 0 {
				if f == nil || f.Status != tc.status {
					t.Fatalf("got %+v, %+v; want status %d", caller, f, tc.status)
				}
				return
			}
			if f != nil || caller.Tenant != tc.want {
				t.Fatalf("got %+v, %+v; want tenant %s", caller, f, tc.want)
			}
		})
	}
	off := &Checker{}
	if caller, f := off.Check(header(), control.ScopeAdmin, ""); f != nil || caller.Tenant != "default" || !caller.Admin() {
		t.Fatalf("disabled: %+v %+v", caller, f)
	}
}

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true, "0.0.0.0:8080": false,
		":8080": false, "10.0.0.1:80": false} {
		if err := CheckListen(addr, false); (err == nil) != ok {
			t.Errorf("CheckListen(%q, disabled) = %v", addr, err)
		}
		if err := CheckListen(addr, true); err != nil {
			t.Errorf("CheckListen(%q, enabled) = %v", addr, err)
		}
	}
}

func TestTenantSignature(t *testing.T) {
	secret := []byte("s3cret")
	sig := TenantSignature(secret, "acme", []byte(`{"a":1}`))
	if !VerifyTenant(secret, "acme", []byte(`{"a":1}`), sig) {
		t.Fatal("a valid signature was refused")
	}
	for _, tc := range []struct {
		tenant, value string
		secret        []byte
	}{{"globex", `{"a":1}`, secret}, {"acme", `{"a":2}`, secret}, {"acme", `{"a":1}`, []byte("other")}, {"acme", `{"a":1}`, nil}} {
		if VerifyTenant(tc.secret, tc.tenant, []byte(tc.value), sig) {
			t.Errorf("forged %+v accepted", tc)
		}
	}
}

// TestTenantKeySign: the pooled signer makes exactly TenantSignature's
// signatures, also when used concurrently.
func TestTenantKeySign(t *testing.T) {
	secret := []byte("a shared secret of some length")
	sign := NewTenantKey(secret).Sign
	concurrently(func(i int, tenant string, value []byte) bool {
		if got, want := sign(tenant, value), TenantSignature(secret, tenant, value); string(got) != string(want) {
			t.Errorf("%s %s: %s, want %s", tenant, value, got, want)
			return false
		}
		return true
	})
	if !VerifyTenant(secret, "acme", []byte("v"), sign("acme", []byte("v"))) {
		t.Fatal("does not verify")
	}
}

// TestTenantKeyVerify: the pooled verifier agrees with VerifyTenant on valid
// and forged signatures, concurrently, and refuses everything with no
// secret.
func TestTenantKeyVerify(t *testing.T) {
	secret := []byte("a shared secret of some length")
	key := NewTenantKey(secret)
	concurrently(func(i int, tenant string, value []byte) bool {
		sig := TenantSignature(secret, tenant, value)
		forged := append([]byte(nil), sig...)
		forged[i%len(forged)] ^= 1
		for _, c := range []struct {
			tenant string
			value  []byte
			sig    []byte
		}{{tenant, value, sig}, {tenant, value, forged}, {tenant + "x", value, sig}, {tenant, append(value, ' '), sig}, {tenant, value, sig[:10]}} {
			if got, want := key.Verify(c.tenant, c.value, c.sig), VerifyTenant(secret, c.tenant, c.value, c.sig); got != want {
				t.Errorf("Verify(%q, %s, %s) = %v, VerifyTenant says %v", c.tenant, c.value, c.sig, got, want)
				return false
			}
		}
		return true
	})
	if !key.Verify("acme", []byte("v"), key.Sign("acme", []byte("v"))) {
		t.Fatal("its own signature does not verify")
	}
	empty := NewTenantKey(nil)
	if empty.Verify("acme", []byte("v"), TenantSignature(nil, "acme", []byte("v"))) {
		t.Error("an empty secret verified a signature")
	}
}

// concurrently calls check from four goroutines, each with its own tenant
// and 200 values, until check returns false.
func concurrently(check func(i int, tenant string, value []byte) bool) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				if !check(i, fmt.Sprintf("t%d", g), []byte(fmt.Sprintf(`{"n":%d}`, i))) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkTenantVerify: the processor verifies every record's tenant.
// VerifyTenant builds the HMAC each time; TenantKey reuses keyed states
// (2026-12-02: 1.0–1.6 µs and 11 allocations → 0.4 µs and none, for a
// 130-byte event).
func BenchmarkTenantVerify(b *testing.B) {
	secret := []byte("24b3b571457685866567c2a85430e9beb2b978f88691e101")
	value := []byte(`{"clientId":"client_17","metric":"api_calls","amount":"12.50","timestamp":"2026-12-02T12:00:00.123Z","idempotencyKey":"k-1234567"}`)
	sig := TenantSignature(secret, "default", value)
	b.Run("VerifyTenant", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			VerifyTenant(secret, "default", value, sig)
		}
	})
	b.Run("TenantKey", func(b *testing.B) {
		key := NewTenantKey(secret)
		b.ReportAllocs()
		for b.Loop() {
			key.Verify("default", value, sig)
		}
	})
}
