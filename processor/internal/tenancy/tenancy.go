// Package tenancy decides which tenant a raw record belongs to — the
// pipeline's Tenants (docs/contracts.md, "Tenants"):
//
//   - a tenant the record claims (tally-tenant) is trusted only with a
//     valid signature (tally-tenant-sig: auth.TenantSignature with the secret
//     ingestors and processors share), which only an ingestor that
//     authenticated the producer, or a processor forwarding such a record,
//     can make;
//   - otherwise the record belongs to its topic's tenant, as an admin mapped
//     it in the control plane (Kafka-native producers);
//   - otherwise it belongs to no one and is rejected (tenant_unmapped),
//     never silently given to a tenant.
//
// With authentication disabled (tests), every claim is trusted and an
// unclaimed record belongs to the default tenant.
package tenancy

import (
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
	// Disabled trusts every claim (TALLY_AUTH=disabled).
	Disabled bool
}

var _ pipeline.Tenants = (*Resolver)(nil)

// Tenant resolves r's tenant.
func (t *Resolver) Tenant(r *kgo.Record, claimed string, signature []byte) (string, bool) {
	if t.Disabled {
		if claimed == "" {
			return event.DefaultTenant, true
		}
		return claimed, true
	}
	if claimed != "" && auth.VerifyTenant(t.Secret, claimed, r.Value, signature) {
		return claimed, true
	}
	if t.Mappings != nil {
		if tenant, ok := t.Mappings.TenantOf(r.Topic); ok {
			return tenant, true
		}
	}
	return "", false
}

// Signer signs forwarded copies with the shared secret.
func (t *Resolver) Signer() func(tenant string, value []byte) []byte {
	if t.Disabled || len(t.Secret) == 0 {
		return nil
	}
	return func(tenant string, value []byte) []byte { return auth.TenantSignature(t.Secret, tenant, value) }
}
