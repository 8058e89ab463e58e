// Package seen is the Redis filter in front of the event store: it remembers,
// for each event id whose row is already durable in ClickHouse, where the
// original came from ("<partition>:<offset>").
//
// It is a cache, never the source of truth. Ids are marked only after the
// durable write (SET NX, so the first original wins), and a lookup error is
// reported to the caller, which fails open: it writes the events anyway and
// lets ReplacingMergeTree plus query-time dedup keep counts exact.
package seen

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tally-dev/tally/event"
)

// KeyPrefix is the wire contract's key format, shared with the ingestor.
const KeyPrefix = event.SeenKeyPrefix

// Origin locates the original copy of an event.
type Origin struct {
	Partition int32
	Offset    int64
}

func (o Origin) String() string {
	return strconv.FormatInt(int64(o.Partition), 10) + ":" + strconv.FormatInt(o.Offset, 10)
}

// ParseOrigin reads the value written by Mark.
func ParseOrigin(s string) (Origin, bool) {
	p, o, ok := strings.Cut(s, ":")
	if !ok {
		return Origin{}, false
	}
	pi, err1 := strconv.ParseInt(p, 10, 32)
	oi, err2 := strconv.ParseInt(o, 10, 64)
	if err1 != nil || err2 != nil {
		return Origin{}, false
	}
	return Origin{Partition: int32(pi), Offset: oi}, true
}

// Redis is the Redis-backed filter.
type Redis struct {
	client redis.UniversalClient
	ttl    time.Duration
}

// NewRedis wraps a client; ttl bounds how long an id is remembered.
func NewRedis(client redis.UniversalClient, ttl time.Duration) *Redis {
	return &Redis{client: client, ttl: ttl}
}

// Lookup returns the origin of every id already marked. One round trip.
func (r *Redis) Lookup(ctx context.Context, ids []string) (map[string]Origin, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = KeyPrefix + id
	}
	vals, err := r.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis lookup: %w", err)
	}
	found := make(map[string]Origin)
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		if o, ok := ParseOrigin(s); ok {
			found[ids[i]] = o
		}
	}
	return found, nil
}

// Mark remembers ids as durable with their origins. Pipelined SET NX.
func (r *Redis) Mark(ctx context.Context, origins map[string]Origin) error {
	if len(origins) == 0 {
		return nil
	}
	pipe := r.client.Pipeline()
	for id, o := range origins {
		pipe.SetNX(ctx, KeyPrefix+id, o.String(), r.ttl)
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		return fmt.Errorf("redis mark: %w", err)
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("redis mark: %w", err)
		}
	}
	return nil
}

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }
