// Package seen answers the ingestor's duplicate hint: has the processor
// already durably stored an event with this id? The processor adds an
// entry (layout in github.com/tally-dev/tally/event/seenkey) only after the
// durable write, so a hit means a stored copy exists. The answer is advisory — a miss never means "new" for
// certain (Redis may be flushed, or the first copy still in flight) and the
// processor decides authoritatively — so every failure here is a miss.
package seen

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tally-dev/tally/event/seenkey"
)

// Redis looks ids up with one pipelined round trip.
type Redis struct {
	client  redis.Cmdable
	timeout time.Duration
}

// NewRedis bounds every lookup by timeout, so a slow Redis costs a request
// at most that much.
func NewRedis(client redis.Cmdable, timeout time.Duration) *Redis {
	return &Redis{client: client, timeout: timeout}
}

// Seen reports for each id whether its key exists. On error the result is
// nil; callers treat that as "not seen".
func (r *Redis) Seen(ctx context.Context, ids []string) ([]bool, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	pipe := r.client.Pipeline()
	cmds := make([]*redis.BoolCmd, len(ids))
	for i, id := range ids {
		key, field, err := seenkey.Split(id)
		if err != nil {
			return nil, fmt.Errorf("redis seen lookup: %w", err)
		}
		cmds[i] = pipe.HExists(ctx, key, field)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redis seen lookup: %w", err)
	}
	out := make([]bool, len(ids))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}
