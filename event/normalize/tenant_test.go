package normalize

import (
	"testing"
	"time"
)

// The tenant is part of every id but the default tenant's, whose ids stay
// those of a single-tenant Tally.
func TestTenantScopesTheID(t *testing.T) {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, raw := range []string{
		`{"clientId":"c","metric":"m","amount":1,"timestamp":"2024-01-01T00:00:00Z"}`,
		`{"clientId":"c","metric":"m","amount":1}`,
		`{"clientId":"c","amount":1,"idempotencyKey":"k"}`,
	} {
		id := func(tenant string) string {
			ev, rej := e.Normalize(Input{Raw: []byte(raw), ReceivedAt: now, Tenant: tenant})
			if rej != nil {
				t.Fatalf("%s: %v", raw, rej)
			}
			return ev.EventID
		}
		plain, def, acme, other := id(""), id("default"), id("acme"), id("other")
		if plain != def {
			t.Errorf("%s: the default tenant's id %s differs from the tenant-less one %s", raw, def, plain)
		}
		if acme == def || acme == other || other == def {
			t.Errorf("%s: tenants share ids: default %s acme %s other %s", raw, def, acme, other)
		}
		if acme != id("acme") {
			t.Errorf("%s: a tenant's id is not stable", raw)
		}
	}
}
