// Package tenancy decides which tenant a raw record belongs to — the
// pipeline's Tenants (docs/contracts.md, "Tenants"):
//
//   - a tenant the record claims (tally-tenant) is trusted only with a
//     valid signature (tally-tenant-sig: auth.TenantSignature with the secret
//     ingestors and processors share, or the previous one during a
//     rotation), which only an ingestor that authenticated the producer, or
//     a processor forwarding such a record, can make; a claim that does not
//     verify is rejected (tenant_unverified) — never handed to the topic's
//     tenant, which would count one tenant's events as another's;
//   - a record that claims nothing belongs to its topic's tenant, as an
//     admin mapped it in the control plane (Kafka-native producers);
//   - otherwise it belongs to no one and is rejected (tenant_unmapped).
//
// With authentication disabled (tests), every claim is trusted and an
// unclaimed record belongs to the default tenant.
package tenancy

import (
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// Mappings answers a topic's tenant (control.Registry does).
type Mappings interface {
	TenantOf(topic string) (string, bool)
}

// Resolver is the pipeline's Tenants.
type Resolver struct {
	Mappings Mappings
	Secret   []byte
	// Previous is the secret before a rotation, still accepted (nil: none).
	Previous []byte
	// Disabled trusts every claim (TALLY_AUTH=disabled).
	Disabled bool

	once          sync.Once
	current, prev *auth.TenantKey
}

// keys are Secret's and Previous's pooled HMAC states, built on first use.
func (t *Resolver) keys() (current, prev *auth.TenantKey) {
	t.once.Do(func() {
		t.current, t.prev = auth.NewTenantKey(t.Secret), auth.NewTenantKey(t.Previous)
	})
	return t.current, t.prev
}

var _ pipeline.Tenants = (*Resolver)(nil)

// Tenant resolves r's tenant.
func (t *Resolver) Tenant(r *kgo.Record, claimed string, signature []byte) (string, *pipeline.TenantRejection) {
	if t.Disabled {
		if claimed == "" {
			return event.DefaultTenant, nil
		}
		return claimed, nil
	}
	if claimed != "" {
		current, prev := t.keys()
		if current.Verify(claimed, r.Value, signature) || prev.Verify(claimed, r.Value, signature) {
			return claimed, nil
		}
		return "", &pipeline.TenantRejection{Code: pipeline.CodeTenantUnverified, Message: "the record claims tenant " +
			strconv.Quote(claimed) + " but its tally-tenant-sig does not verify: only an ingestor (or a processor forwarding) " +
			"may set the tenant header; Kafka-native producers leave it out and map their topic to a tenant"}
	}
	if t.Mappings != nil {
		if tenant, ok := t.Mappings.TenantOf(r.Topic); ok {
			return tenant, nil
		}
	}
	return "", &pipeline.TenantRejection{Code: pipeline.CodeTenantUnmapped, Message: "topic " + r.Topic +
		" is mapped to no tenant and the record claims none: map the topic to a tenant (PUT /v1/admin/topics/" + r.Topic +
		" or processor keys map), or send through the ingestor"}
}

// Signer signs forwarded copies with the shared secret.
func (t *Resolver) Signer() func(tenant string, value []byte) []byte {
	if t.Disabled || len(t.Secret) == 0 {
		return nil
	}
	current, _ := t.keys()
	return current.Sign
}
