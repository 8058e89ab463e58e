// Package event is Tally's wire contract: the Kafka record headers the
// ingestor writes beside each raw payload, and the canonical event every
// producer's JSON is normalized into.
//
// Raw records on the raw topic carry the producer's JSON exactly as received
// (one event per record). HTTP-ingested records also carry the headers below;
// Kafka-native producers send bare JSON, and the processor then takes the
// record timestamp as the received time. The record key is the client id
// when the ingestor could compute one (PartitionKey), so every copy of a
// logical event — and every event of a client — lands on the partition that
// owns it and is handled, in order, by one consumer.
package event

import (
	"time"
)

// Header names on raw (and dead-letter) records.
const (
	HeaderReceivedAt      = "tally-received-at"      // RFC 3339, UTC, millisecond precision
	HeaderRequestID       = "tally-request-id"       // ingestor request id
	HeaderIdempotencyKey  = "tally-idempotency-key"  // from the HTTP Idempotency-Key header
	HeaderSimulateFailure = "tally-simulate-failure" // "true": first durable write of the batch fails (dev only)
	HeaderEventID         = "tally-event-id"         // the ingestor's preflight id (informational)
	HeaderSource          = "tally-source"           // "http" for ingestor records
	HeaderTenant          = "tally-tenant"           // the tenant the ingestor authenticated
	// HeaderTenantSignature proves HeaderTenant came from an ingestor (or a
	// processor forwarding a stray): auth.TenantSignature of the tenant and
	// the value. Without a valid one, a record's tenant is its topic's.
	HeaderTenantSignature = "tally-tenant-sig"
	// HeaderForwardedFrom marks a copy the processor produced to its owner
	// partition: "<topic>/<partition>/<offset>" of the stray it came from.
	HeaderForwardedFrom = "tally-forwarded-from"

	// HeaderFormat names how the value is laid out, as normalize.Format
	// spells it: "tally", "cloudevents" (structured mode), "cloudevents-binary"
	// (context attributes in ce_* headers, the value is the data) or "segment"
	// (one Segment track call). Without it the CloudEvents Kafka protocol
	// binding decides (a ce_specversion header is binary mode, a content-type
	// of application/cloudevents+json structured mode), else "tally".
	HeaderFormat = "tally-format"
	// HeaderSentAt is the sentAt of the Segment batch a message came in,
	// for messages without their own (clock-skew correction).
	HeaderSentAt = "tally-sent-at"
	// HeaderContentType and HeaderCloudEventPrefix are the CloudEvents Kafka
	// protocol binding's own headers: content-type is the structured-mode
	// media type or, in binary mode, datacontenttype; ce_<attribute> holds
	// each context attribute of a binary-mode event, unencoded UTF-8.
	HeaderContentType      = "content-type"
	HeaderCloudEventPrefix = "ce_"

	// Dead-letter headers: where the record came from and why it could not be stored.
	HeaderDLQReason = "tally-dlq-reason"
	// HeaderDLQTruncated holds the original value size of a dead letter
	// whose value was cut to fit the dead-letter topic; it cannot be
	// replayed (the whole value stays in the raw topic while retained).
	HeaderDLQTruncated = "tally-dlq-truncated"
	// HeaderDLQHeadersDropped marks a dead letter whose producer headers
	// were too large to copy (only tally-* headers are kept).
	HeaderDLQHeadersDropped = "tally-dlq-headers-dropped"
	HeaderDLQTopic          = "tally-dlq-topic"
	HeaderDLQPartition      = "tally-dlq-partition"
	HeaderDLQOffset         = "tally-dlq-offset"
)

// DefaultTenant owns every event that carries no tenant.
const DefaultTenant = "default"

// Canonical is one normalized logical event.
type Canonical struct {
	// EventID is the 64-hex SHA-256 that identifies the logical event; see
	// package normalize for exactly what it covers.
	EventID  string `json:"eventId"`
	ClientID string `json:"clientId"`
	Metric   string `json:"metric"`
	Amount   Amount `json:"amount"`
	// Timestamp is the event's instant in UTC, truncated to milliseconds.
	Timestamp time.Time `json:"timestamp"`
	// TimestampDefaulted is true when the producer sent no timestamp and the
	// configured policy supplied the received time instead.
	TimestampDefaulted bool   `json:"timestampDefaulted,omitempty"`
	IdempotencyKey     string `json:"idempotencyKey,omitempty"`
}

// Source locates one raw record in Kafka.
type Source struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Received  time.Time `json:"receivedAt"`
}
