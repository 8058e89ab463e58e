//go:build integration

package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/testenv"
)

// On a real broker, the layout headers survive the produce: a binary-mode
// CloudEvent's attributes as ce_* headers and a Segment batch's sentAt.
func TestIntegrationFormatsRealBroker(t *testing.T) {
	brokers := testenv.Kafka(t)
	opts := defaultOptions()
	opts.brokers = brokers
	opts.topic = createTopic(t, brokers)
	h := newHarness(t, opts)

	w := h.do(request{path: "/v1/events", body: []byte(`{"amount":"12.50"}`), header: ceBinaryHeaders(nil)})
	if w.Code != http.StatusAccepted {
		t.Fatalf("cloudevents: status %d, body %s", w.Code, w.Body)
	}
	ceID := keyedID("/shop/orders", "A234-1234-1234")
	checkResults(t, decode[v1Response](t, w), []wantResult{{"accepted", ceID, ""}})
	w = h.do(request{path: "/v1/batch", body: readFixture(t, "analytics-node-batch.json")})
	if w.Code != http.StatusOK {
		t.Fatalf("segment: status %d, body %s", w.Code, w.Body)
	}
	if resp := decode[segmentResponse](t, w); !resp.Success || resp.Accepted != 2 {
		t.Fatalf("segment: %s", w.Body)
	}

	recs := h.records(3, 30*time.Second)
	if len(recs) != 3 {
		t.Fatalf("consumed %d records, want 3", len(recs))
	}
	for _, r := range recs {
		hm := layoutHeaders(r)
		switch hm[event.HeaderFormat] {
		case "cloudevents-binary":
			want := map[string]string{event.HeaderFormat: "cloudevents-binary", "ce_specversion": "1.0", "ce_id": "A234-1234-1234",
				"ce_source": "/shop/orders", "ce_type": "com.example.order.paid", "ce_time": "2024-01-02T15:04:05Z",
				"content-type": "application/json"}
			if !mapsEqual(hm, want) || string(r.Value) != `{"amount":"12.50"}` || headerMap(r)[event.HeaderEventID] != ceID {
				t.Errorf("cloudevents record: headers %v value %q", hm, r.Value)
			}
		case "segment":
			if hm[event.HeaderSentAt] != "2025-03-04T05:06:05.000Z" {
				t.Errorf("segment record: headers %v", hm)
			}
		default:
			t.Errorf("record with headers %v", hm)
		}
	}
}
