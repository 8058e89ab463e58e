package pipeline

import (
	"context"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tally-dev/tally/event"
	"github.com/tally-dev/tally/event/normalize"
	"github.com/tally-dev/tally/event/schema"
)

// The pipeline's ports: small interfaces declared here, with types the
// pipeline owns. Adapters (eventstore, seen, dlq, the Kafka topology) import
// this package, never the reverse.

// Normalizer maps a raw event to its canonical form or a rejection.
type Normalizer interface {
	Normalize(in normalize.Input) (event.Canonical, *normalize.Rejection)
}

// Origin locates the winner of an event id — the first stored copy: its
// stream's tag (StreamTag), partition and offset — and fingerprints its
// content.
type Origin struct {
	Stream      uint32
	Partition   int32
	Offset      int64
	Fingerprint uint64
}

// StreamTag is the compact name of a stream (a topic incarnation) kept in
// origins: a record is its own origin only in its own stream.
func StreamTag(stream string) uint32 { return crc32.ChecksumIEEE([]byte(stream)) }

// TenantID names an event id within its tenant.
type TenantID struct {
	Tenant, EventID string
}

// Source locates one raw record: its topic incarnation (stream), partition
// and offset, and when it was received.
type Source struct {
	Stream    string // "<topic>/<topic id>"
	Topic     string
	Partition int32
	Offset    int64
	Received  time.Time
}

// Store makes batches durable and answers the questions the pipeline asks
// of durable state. Every write is idempotent per source record.
type Store interface {
	// Write stores a batch's rows (winners, their id index, duplicates,
	// rejections, dead letters, forwarded strays).
	Write(ctx context.Context, b Batch) error
	// Permanent reports whether err from Write can never succeed for the
	// same rows (a value the store refuses), so retrying would stall.
	Permanent(err error) bool
	// WriteState stores a batch's state rows in one insert.
	WriteState(ctx context.Context, rows []StateRow) error
	// LoadState returns each key's row at its highest version, in the
	// order of keys (which are distinct), and the zero row for a key that
	// has none: every stored row has a version of at least 1, and the zero
	// row counts nothing. By position, so the pipeline and the store hash
	// no key twice.
	LoadState(ctx context.Context, keys []StateKey) ([]StateRow, error)
	// RollupIndex describes the rollup rows of one partition of a stream:
	// the newest bucket per tenant and level, every series with an
	// all-time row unless there are more than maxSeries, and the buckets
	// that hold rows unless they take more than maxWords words (negative:
	// not asked).
	RollupIndex(ctx context.Context, stream string, part int32, maxSeries, maxWords int) (RollupIndex, error)
	// Lookup returns the winners among ids.
	Lookup(ctx context.Context, ids []TenantID) (map[TenantID]Origin, error)
	// Winners calls each for every winner of the slots; with stream set,
	// only those of that stream at offsets ≥ from.
	Winners(ctx context.Context, slots []int32, stream string, from int64, each func(id string, o Origin) error) error
}

// TenantLevel names one level of one tenant's rollups.
type TenantLevel struct {
	Tenant string
	Level  uint8
}

// Series names the rollups of one client and metric of one tenant.
type Series struct {
	Tenant, Client, Metric string
}

// RollupIndex is what a partition's rollup rows hold, as far as telling
// that a key cannot exist needs.
type RollupIndex struct {
	// High is the newest bucket per tenant and level (a tenant without
	// rows is absent).
	High map[TenantLevel]uint32
	// Series holds every series with an all-time row; nil when there are
	// more than asked for (unknown).
	Series map[Series]struct{}
	// Buckets marks, per tenant and level, the time buckets that hold rows
	// of any series; nil when they take more words than asked for
	// (unknown).
	Buckets map[TenantLevel]BucketWords
}

// BucketWords marks time buckets of one tenant and level: bit s%64 of word
// s/64 for the bucket of slot s (BucketSlot).
type BucketWords map[uint32]uint64

// levelWidth is schema.LevelSeconds as an array (0: the all-time level).
var levelWidth = func() (w [8]uint32) {
	for l, s := range schema.LevelSeconds {
		w[l] = uint32(s)
	}
	return w
}()

// BucketSlot numbers the buckets of a level consecutively: a bucket's start
// over the level's width (0 for the all-time level).
func BucketSlot(level uint8, bucket uint32) uint32 {
	if w := levelWidth[level&7]; w > 0 {
		return bucket / w
	}
	return 0
}

// Mark sets bucket's bit and reports whether it took a new word.
func (b BucketWords) Mark(level uint8, bucket uint32) bool {
	s := BucketSlot(level, bucket)
	old, ok := b[s/64]
	b[s/64] = old | 1<<(s%64)
	return !ok
}

// Holds reports whether bucket's bit is set.
func (b BucketWords) Holds(level uint8, bucket uint32) bool {
	s := BucketSlot(level, bucket)
	return b[s/64]&(1<<(s%64)) != 0
}

// Probe asks the seen-set about ids of one owner partition (partition Part
// of a topic of N partitions).
type Probe struct {
	Stream string
	N      int32
	Part   int32
	IDs    []string
}

// Answer is the seen-set's atomic view for one Probe: its watermark (-1
// when absent: the seen-set lost it) and the origins of the ids it holds.
type Answer struct {
	Watermark int64
	Found     map[string]Origin
}

// Marks adds a batch's winners of one partition to the seen-set and moves
// the partition's watermark from From to To.
type Marks struct {
	Stream   string
	N        int32
	Part     int32
	From, To int64
	Winners  map[string]Origin
}

// SeenSet remembers every winner, with a watermark per owner partition below
// which a miss is trustworthy (docs/design/read-model.md, R3). It is a cache
// in front of the Store; the pipeline never trusts it beyond its watermark.
type SeenSet interface {
	// Lookup answers every probe in one atomic step per probe.
	Lookup(ctx context.Context, probes []Probe) ([]Answer, error)
	// Mark adds winners; it moves a watermark only if it is at least From,
	// so a flush between Lookup and Mark leaves the partition incomplete.
	Mark(ctx context.Context, marks []Marks) error
	// Heal adds every winner that winners yields and then sets the
	// watermark to to — unless the seen-set lost data meanwhile.
	Heal(ctx context.Context, stream string, n, part int32, to int64, winners func(each func(id string, o Origin) error) error) error
}

// Stray is a record found outside its owner partition.
type Stray struct {
	Record   *kgo.Record
	Source   Source
	Tenant   string
	ClientID string
	EventID  string
	Owner    int32
}

// RecordErrors reports records of one call that failed permanently (by
// index into the call's argument); the pipeline dead-letters them with the
// error as reason and plans the batch again. Any other error is transient.
type RecordErrors map[int]error

func (e RecordErrors) Error() string {
	for i, err := range e {
		return fmt.Sprintf("%d record(s) failed permanently, e.g. #%d: %v", len(e), i, err)
	}
	return "no record failed"
}

// Forwarded is where a stray's copy landed.
type Forwarded struct {
	Partition int32
	Offset    int64
}

// Forwarder produces strays to their owner partitions and waits for the
// broker's acknowledgement of every one. Strays the broker can never take
// are reported as RecordErrors.
type Forwarder interface {
	Forward(ctx context.Context, strays []Stray) ([]Forwarded, error)
}

// DeadLetterer produces records to the dead-letter topic and returns once
// the broker acknowledged them.
type DeadLetterer interface {
	DeadLetter(ctx context.Context, records []*kgo.Record, reasons []string) error
}

// Tenants decides which tenant a raw record belongs to, from the tenant it
// claims in its headers, the claim's signature and the record's topic. A
// non-nil rejection means no tenant can be trusted: the record is rejected
// with its code and message, never given to a tenant.
type Tenants interface {
	Tenant(r *kgo.Record, claimed string, signature []byte) (tenant string, rejection *TenantRejection)
}

// TenantRejection says why a record has no tenant.
type TenantRejection struct {
	Code, Message string
}

// Rejection codes of Tenants.
const (
	// CodeTenantUnmapped: no claim, and the topic is mapped to no tenant.
	CodeTenantUnmapped = "tenant_unmapped"
	// CodeTenantUnverified: a claimed tenant whose signature does not
	// verify (forged, or signed with a secret no longer accepted).
	CodeTenantUnverified = "tenant_unverified"
)

// TopicInfo describes one incarnation of a topic.
type TopicInfo struct {
	ID         string // Kafka's topic id
	Partitions int32
}

// Topology answers what the pipeline needs to know about a topic.
type Topology interface {
	Topic(ctx context.Context, name string) (TopicInfo, error)
}

// Winner is one stored event: the first copy of its id.
type Winner struct {
	Tenant string
	Event  event.Canonical
	Source Source
	Slot   int32
	Raw    []byte
	// Fingerprint is Event.Fingerprint(), computed once when the winner
	// was decided (0: not computed; stores compute it).
	Fingerprint uint64
}

// Duplicate is a copy that lost to a winner; Conflict when its content
// differs (then Event and Raw keep what it said).
type Duplicate struct {
	Tenant   string
	Event    event.Canonical
	Source   Source
	Original Origin
	Conflict bool
	Raw      []byte
}

// Rejected is a record the normalization engine refused, kept for audit.
type Rejected struct {
	Tenant                           string
	Code, Field, Message, ClientHint string
	Source                           Source
	Raw                              []byte
}

// DeadLetter records a raw record sent to the dead-letter topic.
type DeadLetter struct {
	Tenant string
	Reason string
	Source Source
	Raw    []byte
}

// ForwardedRow records a stray and where its copy went.
type ForwardedRow struct {
	Tenant, EventID, ClientID string
	Source                    Source
	To                        Forwarded
}

// Batch is everything one batch writes besides state.
type Batch struct {
	Winners     []Winner
	Duplicates  []Duplicate
	Rejected    []Rejected
	DeadLetters []DeadLetter
	Forwarded   []ForwardedRow
	// Simulate is set when a record asked for the seed's simulated
	// failure; only the fault-injection wrapper reads it.
	Simulate bool
}
