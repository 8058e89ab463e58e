// Package seen answers the ingestor's duplicate hint for acknowledged
// events: is this copy of an event a duplicate, as far as Redis can tell?
//
// Two facts answer it, read and written in one pipelined round trip:
//   - the processor's seen-set (layout in
//     github.com/tally-dev/tally/event/seenkey), which it adds an entry to only
//     after the durable write: a hit means a stored copy exists. The ingestor
//     only reads it.
//   - the ingestor's own claims (seenkey.ClaimKey): SET NX with a short
//     expiry (ClaimWindow) once a copy was acknowledged by Kafka. Of many
//     concurrent copies exactly one wins the claim and is answered "new";
//     the others, and any copy within the window, are duplicates. The claim
//     bridges the time between the ack and the processor's seen entry.
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
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tally-dev/tally/event/seenkey"
)

// ClaimWindow is how long a claim lives. It must outlast the time from a
// Kafka ack to the processor's seen entry (freshness p99 is about a second);
// longer costs Redis memory: a claim is a key of its own, 165 bytes on
// Redis 7.0 (measured: 200,000 claims, 33 MB), so the claims of the last
// window hold new-events-per-second × 5 s × 165 bytes: 16 MB at 20,000
// events/s, 250 MB at 300,000 batched events/s.
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

// call is one Claim waiting for its round trip.
type call struct {
	fields []hint
	out    []bool
	err    error
	done   chan struct{}
}

// hint is one id's two commands.
type hint struct {
	key, field, claim string
	stored, claimed   *redis.BoolCmd
}

// NewRedis bounds every caller's wait by timeout, so a slow Redis costs a
// request at most that much.
func NewRedis(client redis.Cmdable, timeout time.Duration) *Redis {
	return &Redis{client: client, timeout: timeout, window: ClaimWindow}
}

// Claim reports for each id whether it is a duplicate: the seen-set holds
// it, or another copy holds its claim. Every other id is claimed for this
// copy. Callers pass each id once. On error the result is nil and nothing
// should be concluded.
func (r *Redis) Claim(ctx context.Context, ids []string) ([]bool, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	c := &call{fields: make([]hint, len(ids)), done: make(chan struct{})}
	for i, id := range ids {
		key, field, err := seenkey.Split(id)
		if err != nil {
			return nil, fmt.Errorf("redis duplicate hint: %w", err)
		}
		claim, err := seenkey.ClaimKey(id)
		if err != nil {
			return nil, fmt.Errorf("redis duplicate hint: %w", err)
		}
		c.fields[i] = hint{key: key, field: field, claim: claim}
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if len(ids) > ownTripIDs {
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
			h.stored = pipe.HExists(ctx, h.key, h.field)
			h.claimed = pipe.SetNX(ctx, h.claim, "", r.window)
		}
	}
	// Exec's error is the first command's; each call looks at its own.
	_, _ = pipe.Exec(ctx)
	for _, c := range batch {
		c.out = make([]bool, len(c.fields))
		for i := range c.fields {
			h := &c.fields[i]
			if err := errors.Join(h.stored.Err(), h.claimed.Err()); err != nil {
				c.out, c.err = nil, err
				break
			}
			c.out[i] = h.stored.Val() || !h.claimed.Val()
		}
		close(c.done)
	}
}
