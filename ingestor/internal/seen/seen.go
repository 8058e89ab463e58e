// Package seen answers the ingestor's duplicate hint for acknowledged
// events: is this copy of an event a duplicate, as far as Redis can tell?
//
// Two facts answer it, read and written in one pipelined round trip:
//   - the processor's seen-set (layout in
//     github.com/tally-dev/tally/event/seenkey), which it adds an entry to only
//     after the durable write: a hit means a stored copy exists, and the
//     entry's fingerprint says whether that copy has this copy's content.
//     The ingestor only reads it (HGET).
//   - the ingestor's own claims (seenkey.ClaimKey): SET NX GET with a short
//     expiry (ClaimWindow) once a copy was acknowledged by Kafka, holding the
//     claiming copy's fingerprint. Of many concurrent copies exactly one wins
//     the claim and is answered New; the others, and any copy within the
//     window, are duplicates, or conflicts when the claim's fingerprint is
//     not theirs. The claim bridges the time between the ack and the
//     processor's seen entry.
//
// A conflict is a copy whose id is known with other content: an idempotency
// key reused for another event. The processor records it as an
// idempotency_conflict and never counts it (docs/design/read-model.md, R2);
// the hint tells the producer at once.
//
// Concurrent small requests share round trips: a request's claims join a
// queue, and one pipeline carries every claim queued while the previous
// round trip was on the wire (group commit); a large request sends its own. A request waits for its own answer at
// most the timeout. SET NX is atomic per key, so sharing a pipeline changes
// nothing about who wins a claim; it saves Redis a command parse and
// both sides a system call per request.
//
// The answer stays a hint: a miss is "no stored copy known and no other copy
// acknowledged within the window" — Redis may have been flushed or evicted,
// the processor may lag more than the window, and Kafka-native producers
// never ask — and the processor decides authoritatively. Every failure is
// an error, which the caller answers as "unknown", never as "new".
package seen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tally-dev/tally/event/seenkey"
)

// ClaimWindow is how long a claim lives. It must outlast the time from a
// Kafka ack to the processor's seen entry (freshness p99 is about a second);
// longer costs Redis memory: a claim is a key of its own with its 8-byte
// fingerprint, 148 bytes on Redis 7.0 (measured: 200,000 claims, 30 MB), so
// the claims of the last window hold new-events-per-second × 5 s × 148
// bytes: 15 MB at 20,000 events/s, 222 MB at 300,000 batched events/s.
// SET NX GET needs Redis 7.0 or later; an older Redis refuses it, and every
// hint is then unknown.
const ClaimWindow = 5 * time.Second

const (
	// maxInFlight shared round trips run at once; more queue for the next.
	maxInFlight = 2
	// maxBatchIDs bounds one shared pipeline, so one round trip stays short.
	maxBatchIDs = 512
	// ownTripIDs: a request with more ids than this takes a round trip of
	// its own; its pipeline is large already, and queued behind other large
	// ones it would spend its timeout waiting (measured: half of the
	// 500-event requests timed out when they shared).
	ownTripIDs = 64
)

// Redis answers claims with pipelined round trips shared by concurrent
// callers. It is safe for concurrent use and needs no closing: a round
// trip runs on a goroutine that exits once the queue is empty.
type Redis struct {
	client  redis.Cmdable
	timeout time.Duration
	window  time.Duration

	mu       sync.Mutex
	queue    []*call
	inFlight int // goroutines running round trips
}

// Verdict is the hint for one acknowledged copy.
type Verdict uint8

const (
	// New: no stored copy is known and this copy claimed the id.
	New Verdict = iota + 1
	// Duplicate: a stored copy, or another copy that claimed the id within
	// the window, has the id and this content (or content Redis cannot tell).
	Duplicate
	// Conflict: a stored copy, or the copy that claimed the id, has the id
	// with other content.
	Conflict
)

// Copy is one acknowledged copy to answer: its event id and its content
// fingerprint (event.Canonical.Fingerprint).
type Copy struct {
	ID          string
	Fingerprint uint64
}

// call is one Claim waiting for its round trip.
type call struct {
	fields []hint
	out    []Verdict
	err    error
	done   chan struct{}
}

// hint is one copy's two commands.
type hint struct {
	key, field, claim string
	fingerprint       uint64
	stored            *redis.StringCmd // the seen entry, if any
	claimed           *redis.StatusCmd // the earlier claim's value, or redis.Nil when this copy claimed
}

// NewRedis bounds every caller's wait by timeout, so a slow Redis costs a
// request at most that much.
func NewRedis(client redis.Cmdable, timeout time.Duration) *Redis {
	return &Redis{client: client, timeout: timeout, window: ClaimWindow}
}

// Claim answers each copy: Duplicate or Conflict when the seen-set holds
// its id or another copy holds its claim, else New, and the id is claimed
// for this copy. Callers pass each id once. On error the result is nil and
// nothing should be concluded.
func (r *Redis) Claim(ctx context.Context, copies []Copy) ([]Verdict, error) {
	if len(copies) == 0 {
		return nil, nil
	}
	c := &call{fields: make([]hint, len(copies)), done: make(chan struct{})}
	for i, cp := range copies {
		key, field, err := seenkey.Split(cp.ID)
		if err != nil {
			return nil, fmt.Errorf("redis duplicate hint: %w", err)
		}
		claim, err := seenkey.ClaimKey(cp.ID)
		if err != nil {
			return nil, fmt.Errorf("redis duplicate hint: %w", err)
		}
		c.fields[i] = hint{key: key, field: field, claim: claim, fingerprint: cp.Fingerprint}
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if len(copies) > ownTripIDs {
		r.roundTrip(ctx, []*call{c})
	} else {
		r.enqueue(c)
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("redis duplicate hint: no answer: %w", ctx.Err())
		}
	}
	if c.err != nil {
		return nil, fmt.Errorf("redis duplicate hint: %w", c.err)
	}
	return c.out, nil
}

// enqueue adds c to the queue and starts a round-trip goroutine when fewer
// than maxInFlight run.
func (r *Redis) enqueue(c *call) {
	r.mu.Lock()
	r.queue = append(r.queue, c)
	start := r.inFlight < maxInFlight
	if start {
		r.inFlight++
	}
	r.mu.Unlock()
	if start {
		go r.drain()
	}
}

// drain runs round trips until the queue is empty.
func (r *Redis) drain() {
	for {
		batch := r.take()
		if batch == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		r.roundTrip(ctx, batch)
		cancel()
	}
}

// take removes up to maxBatchIDs ids' worth of calls from the queue (at
// least one call), or returns nil and retires the goroutine when it is empty.
func (r *Redis) take() []*call {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		r.inFlight--
		return nil
	}
	n, ids := 0, 0
	for n < len(r.queue) && (n == 0 || ids+len(r.queue[n].fields) <= maxBatchIDs) {
		ids += len(r.queue[n].fields)
		n++
	}
	batch := make([]*call, n)
	copy(batch, r.queue)
	rest := copy(r.queue, r.queue[n:])
	clear(r.queue[rest:])
	r.queue = r.queue[:rest]
	return batch
}

// roundTrip sends every call's commands in one pipeline and answers each
// call: an error for a call any of whose commands failed.
func (r *Redis) roundTrip(ctx context.Context, batch []*call) {
	pipe := r.client.Pipeline()
	for _, c := range batch {
		for i := range c.fields {
			h := &c.fields[i]
			h.stored = pipe.HGet(ctx, h.key, h.field)
			h.claimed = pipe.SetArgs(ctx, h.claim, claimValue(h.fingerprint), redis.SetArgs{Mode: "NX", TTL: r.window, Get: true})
		}
	}
	// Exec's error is the first command's; each call looks at its own.
	_, _ = pipe.Exec(ctx)
	for _, c := range batch {
		c.out = make([]Verdict, len(c.fields))
		for i := range c.fields {
			v, err := c.fields[i].verdict()
			if err != nil {
				c.out, c.err = nil, err
				break
			}
			c.out[i] = v
		}
		close(c.done)
	}
}

// verdict reads a copy's two answers. The seen entry wins over the claim:
// it is the stored winner. An entry or claim whose value does not decode
// (written by an older ingestor, or by hand) says only that the id is
// known: Duplicate.
func (h *hint) verdict() (Verdict, error) {
	entry, err := h.stored.Result()
	stored := err == nil
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	prior, err := h.claimed.Result()
	claimed := errors.Is(err, redis.Nil) // no earlier claim: this copy set it
	if err != nil && !claimed {
		return 0, err
	}
	switch {
	case stored:
		if o, ok := seenkey.Decode(entry); ok && o.Fingerprint != h.fingerprint {
			return Conflict, nil
		}
		return Duplicate, nil
	case claimed:
		return New, nil
	case len(prior) == 8 && binary.BigEndian.Uint64([]byte(prior)) != h.fingerprint:
		return Conflict, nil
	default:
		return Duplicate, nil
	}
}

// claimValue is a claim's value: the claiming copy's fingerprint, 8 bytes.
func claimValue(fingerprint uint64) string {
	return string(binary.BigEndian.AppendUint64(make([]byte, 0, 8), fingerprint))
}
