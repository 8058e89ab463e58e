package pipeline_test

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/auth"
	"github.com/tally-dev/tally/event/schema"
	"github.com/tally-dev/tally/processor/internal/pipeline"
	"github.com/tally-dev/tally/processor/internal/tenancy"
)

type noMappings struct{}

func (noMappings) TenantOf(string) (string, bool) { return "", false }

// tenantRollup is a tenant's count and sum at level all.
func tenantRollup(r *rig, tenant, client string) (uint64, string) {
	var count uint64
	var sum event.Sum
	for k, row := range r.store.latest() {
		if k.Kind == schema.KindRollup && k.Level == schema.LevelAll && k.Tenant == tenant && k.Client == client {
			count += row.Count
			sum.AddSum(row.Sum)
		}
	}
	return count, sum.Big().String()
}

// The same bytes sent for two tenants are two events; a claim without a
// valid signature is rejected, and so is a record claiming nothing on a
// topic mapped to no tenant — each with a reason — never given to a tenant — and the books still balance.
func TestTenantsNeverDeduplicateAgainstEachOtherAndUnprovenClaimsAreRejected(t *testing.T) {
	secret := []byte("0123456789abcdef0123")
	r := newRig(t, 4)
	r.tenants = &tenancy.Resolver{Mappings: noMappings{}, Secret: secret}
	value := keyed("client_A", "k-1", "purchase", "5")
	signed := func(tenant string) []kgo.RecordHeader {
		return []kgo.RecordHeader{{Key: event.HeaderTenant, Value: []byte(tenant)},
			{Key: event.HeaderTenantSignature, Value: auth.TenantSignature(secret, tenant, []byte(value))}}
	}
	r.send(value, signed("acme")...)
	r.send(value, signed("globex")...)
	r.send(value, signed("acme")...)                                                // a resend: a duplicate within acme
	r.send(value, kgo.RecordHeader{Key: event.HeaderTenant, Value: []byte("acme")}) // claimed, unsigned
	r.send(value, kgo.RecordHeader{Key: event.HeaderTenant, Value: []byte("acme")},
		kgo.RecordHeader{Key: event.HeaderTenantSignature, Value: auth.TenantSignature([]byte("not the secret...."), "acme", []byte(value))})
	r.send(value) // no claim at all
	p := r.processor()
	r.drain(p, 10)

	for _, tenant := range []string{"acme", "globex"} {
		if n, sum := tenantRollup(r, tenant, "client_A"); n != 1 || sum != "5000000000" {
			t.Fatalf("%s: count %d sum %s, want 1 and 5", tenant, n, sum)
		}
	}
	if n, _ := tenantRollup(r, event.DefaultTenant, "client_A"); n != 0 {
		t.Fatalf("an unproven record was given to the default tenant: %d", n)
	}
	// The unsigned and the forged claims are unverified; the record that
	// claims nothing is unmapped.
	if got := counter(r, schema.OutcomeRejected+":"+pipeline.CodeTenantUnverified); got != 2 {
		t.Fatalf("tenant_unverified rejections = %d, want 2", got)
	}
	if got := counter(r, schema.OutcomeRejected+":"+pipeline.CodeTenantUnmapped); got != 1 {
		t.Fatalf("tenant_unmapped rejections = %d, want 1", got)
	}
	if processed, dups, rejected := counter(r, schema.OutcomeProcessed), counter(r, schema.OutcomeDuplicate),
		counter(r, schema.OutcomeRejected); processed != 2 || dups != 1 || rejected != 3 {
		t.Fatalf("processed %d duplicates %d rejected %d, want 2 1 3", processed, dups, rejected)
	}
	// The books: every offset below the positions has exactly one outcome.
	var positions, outcomes uint64
	for k, row := range r.store.latest() {
		switch {
		case k.Kind == schema.KindPosition:
			positions += row.Count
		case k.Kind == schema.KindCounter && !strings.Contains(k.Metric, ":"):
			outcomes += row.Count
		}
	}
	if positions != 6 || outcomes != 6 {
		t.Fatalf("positions sum to %d, outcomes to %d, want 6 and 6", positions, outcomes)
	}
}
