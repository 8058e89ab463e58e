package faults

import (
	"context"
	"testing"

	"github.com/tally-dev/tally/processor/internal/pipeline"
)

type recordingStore struct {
	pipeline.Store
	writes []pipeline.Batch
}

func (r *recordingStore) Write(_ context.Context, b pipeline.Batch) error {
	r.writes = append(r.writes, b)
	return nil
}

// The ack-before-write control must really report success before writing:
// a batch reaches the store only when the next one arrives.
func TestAckBeforeWriteWritesBehind(t *testing.T) {
	rec := &recordingStore{}
	store, _, err := NegativeControl("ack-before-write", rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := pipeline.Batch{Winners: []pipeline.Winner{{Tenant: "a"}}}
	if err := store.Write(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 0 {
		t.Fatalf("the first batch was written at once: %d writes", len(rec.writes))
	}
	if err := store.Write(context.Background(), pipeline.Batch{}); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 1 || len(rec.writes[0].Winners) != 1 || rec.writes[0].Winners[0].Tenant != "a" {
		t.Fatalf("writes after the second batch: %+v", rec.writes)
	}
}

func TestNegativeControlNames(t *testing.T) {
	for _, name := range []string{"", "no-dedup", "ack-before-write"} {
		if _, _, err := NegativeControl(name, &recordingStore{}, nil); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	if _, _, err := NegativeControl("mark-before-write", &recordingStore{}, nil); err == nil {
		t.Error("mark-before-write without a seen-set accepted")
	}
	if _, _, err := NegativeControl("bogus", &recordingStore{}, nil); err == nil {
		t.Error("an unknown control accepted")
	}
}
