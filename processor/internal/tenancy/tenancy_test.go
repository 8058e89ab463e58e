package tenancy

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/processor/internal/pipeline"
)

type mappings map[string]string

func (m mappings) TenantOf(topic string) (string, bool) { t, ok := m[topic]; return t, ok }

func TestResolver(t *testing.T) {
	secret, previous := []byte("shared"), []byte("before the rotation")
	r := &Resolver{Mappings: mappings{"events.raw": "default"}, Secret: secret, Previous: previous}
	rec := &kgo.Record{Topic: "events.raw", Value: []byte(`{"a":1}`)}
	other := &kgo.Record{Topic: "unmapped", Value: []byte(`{"a":1}`)}
	sig := auth.TenantSignature(secret, "acme", rec.Value)
	for _, tc := range []struct {
		name    string
		rec     *kgo.Record
		claimed string
		sig     []byte
		want    string
		code    string
	}{
		{"signed claim", rec, "acme", sig, "acme", ""},
		{"signed with the previous secret", rec, "acme", auth.TenantSignature(previous, "acme", rec.Value), "acme", ""},
		{"signed claim on an unmapped topic", other, "acme", sig, "acme", ""},
		{"forged claim: rejected, never the topic's", rec, "acme", []byte("nope"), "", pipeline.CodeTenantUnverified},
		{"claim without signature: rejected", rec, "acme", nil, "", pipeline.CodeTenantUnverified},
		{"signature for another tenant: rejected", rec, "globex", sig, "", pipeline.CodeTenantUnverified},
		{"signed with an unknown secret: rejected", rec, "acme", auth.TenantSignature([]byte("other"), "acme", rec.Value), "",
			pipeline.CodeTenantUnverified},
		{"no claim: the topic's tenant", rec, "", nil, "default", ""},
		{"no claim, unmapped topic: rejected", other, "", nil, "", pipeline.CodeTenantUnmapped},
		{"forged claim, unmapped topic: rejected", other, "globex", sig, "", pipeline.CodeTenantUnverified},
	} {
		got, rej := r.Tenant(tc.rec, tc.claimed, tc.sig)
		code := ""
		if rej != nil {
			code = rej.Code
			if rej.Message == "" {
				t.Errorf("%s: a rejection without a message", tc.name)
			}
		}
		if got != tc.want || code != tc.code {
			t.Errorf("%s: %q %q, want %q %q", tc.name, got, code, tc.want, tc.code)
		}
	}
	off := &Resolver{Disabled: true}
	if got, rej := off.Tenant(other, "", nil); rej != nil || got != "default" {
		t.Errorf("disabled: %q %v", got, rej)
	}
	if off.Signer() != nil || r.Signer() == nil {
		t.Error("signer")
	}
}
