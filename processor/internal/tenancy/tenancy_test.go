package tenancy

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event/auth"
)

type mappings map[string]string

func (m mappings) TenantOf(topic string) (string, bool) { t, ok := m[topic]; return t, ok }

func TestResolver(t *testing.T) {
	secret := []byte("shared")
	r := &Resolver{Mappings: mappings{"events.raw": "default"}, Secret: secret}
	rec := &kgo.Record{Topic: "events.raw", Value: []byte(`{"a":1}`)}
	other := &kgo.Record{Topic: "unmapped", Value: []byte(`{"a":1}`)}
	sig := auth.TenantSignature(secret, "acme", rec.Value)
	for _, tc := range []struct {
		name    string
		rec     *kgo.Record
		claimed string
		sig     []byte
		want    string
		ok      bool
	}{
		{"signed claim", rec, "acme", sig, "acme", true},
		{"signed claim on an unmapped topic", other, "acme", sig, "acme", true},
		{"forged claim falls back to the topic", rec, "acme", []byte("nope"), "default", true},
		{"claim without signature", rec, "acme", nil, "default", true},
		{"signature for another tenant", rec, "globex", sig, "default", true},
		{"no claim: the topic's tenant", rec, "", nil, "default", true},
		{"no claim, unmapped topic: rejected", other, "", nil, "", false},
		{"forged claim, unmapped topic: rejected", other, "globex", sig, "", false},
	} {
		got, ok := r.Tenant(tc.rec, tc.claimed, tc.sig)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %q %v, want %q %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	off := &Resolver{Disabled: true}
	if got, ok := off.Tenant(other, "", nil); !ok || got != "default" {
		t.Errorf("disabled: %q %v", got, ok)
	}
	if off.Signer() != nil || r.Signer() == nil {
		t.Error("signer")
	}
}
