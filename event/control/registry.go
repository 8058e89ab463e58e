package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultTopic is the control topic's default name.
const DefaultTopic = "tally.control"

// Authentication failures; the HTTP layer maps every one to 401.
var (
	ErrUnknownKey = errors.New("unknown API key")
	ErrRevoked    = errors.New("the API key was revoked")
	ErrExpired    = errors.New("the API key has expired")
)

// Registry follows the control topic and answers from memory.
type Registry struct {
	topic  string
	cl     *kgo.Client
	logger *slog.Logger

	mu     sync.RWMutex
	keys   map[string]Key
	topics map[string]string
	ready  chan struct{}
	once   sync.Once

	// next is the offset after the last record applied; moved is closed
	// (and replaced) whenever it advances.
	next  int64
	moved chan struct{}
}

// NewRegistry makes a registry reading topic with a client built from opts
// (brokers, TLS, SASL). Run must be called to fill it.
func NewRegistry(opts []kgo.Opt, topic string, logger *slog.Logger) (*Registry, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))...)
	if err != nil {
		return nil, err
	}
	return &Registry{topic: topic, cl: cl, logger: logger, keys: map[string]Key{}, topics: map[string]string{},
		ready: make(chan struct{}), moved: make(chan struct{})}, nil
}

// Close stops the registry's client.
func (r *Registry) Close() { r.cl.Close() }

// Run reads the topic until ctx ends: first up to the end offsets it finds
// (then Ready closes), then every new record as it comes.
func (r *Registry) Run(ctx context.Context) error {
	var ends map[int32]int64
	for ends == nil {
		listed, err := kadm.NewClient(r.cl).ListEndOffsets(ctx, r.topic)
		if err == nil {
			err = listed.Error()
		}
		if err == nil {
			ends = map[int32]int64{}
			listed.Each(func(o kadm.ListedOffset) {
				if o.Offset > 0 {
					ends[o.Partition] = o.Offset
				}
			})
			break
		}
		r.logger.Warn("control topic not readable yet; retrying", "topic", r.topic, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if len(ends) == 0 {
		r.once.Do(func() { close(r.ready) })
	}
	for {
		fetches := r.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil //nolint:nilerr // stopping is the normal end, not a failure
		}
		fetches.EachError(func(t string, p int32, err error) {
			r.logger.Warn("control topic fetch error", "topic", t, "partition", p, "err", err)
		})
		fetches.EachRecord(func(rec *kgo.Record) {
			r.apply(rec)
			if end, ok := ends[rec.Partition]; ok && rec.Offset+1 >= end {
				delete(ends, rec.Partition)
				if len(ends) == 0 {
					r.once.Do(func() { close(r.ready) })
				}
			}
		})
	}
}

func (r *Registry) apply(rec *kgo.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec.Offset+1 > r.next {
		r.next = rec.Offset + 1
		close(r.moved)
		r.moved = make(chan struct{})
	}
	kind, name, ok := strings.Cut(string(rec.Key), "/")
	if !ok {
		return
	}
	switch kind {
	case "key":
		if rec.Value == nil {
			delete(r.keys, name)
			return
		}
		var k Key
		if err := json.Unmarshal(rec.Value, &k); err != nil || k.ID != name {
			r.logger.Error("unreadable key record in the control topic", "key", name, "err", err)
			return
		}
		r.keys[name] = k
	case "topic":
		if rec.Value == nil {
			delete(r.topics, name)
			return
		}
		var m TopicTenant
		if err := json.Unmarshal(rec.Value, &m); err != nil || m.Topic != name {
			r.logger.Error("unreadable topic mapping in the control topic", "topic", name, "err", err)
			return
		}
		r.topics[name] = m.Tenant
	}
}

// Ready closes once the registry has read what the topic held when Run
// started.
func (r *Registry) Ready() <-chan struct{} { return r.ready }

// WaitReady waits for Ready or ctx.
func (r *Registry) WaitReady(ctx context.Context) error {
	select {
	case <-r.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("control topic %s not read: %w", r.topic, ctx.Err())
	}
}

// WaitApplied waits until the registry has applied the control record at
// offset (what a Writer returned), so a key just created authenticates.
func (r *Registry) WaitApplied(ctx context.Context, offset int64) error {
	for {
		r.mu.RLock()
		next, moved := r.next, r.moved
		r.mu.RUnlock()
		if next > offset {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("control record %d not read back: %w", offset, ctx.Err())
		}
	}
}

// Authenticate checks key text: a well-formed key, known, matching, not
// revoked, not expired at now.
func (r *Registry) Authenticate(text string, now time.Time) (Key, error) {
	id, secret, err := Parse(text)
	if err != nil {
		return Key{}, err
	}
	r.mu.RLock()
	k, ok := r.keys[id]
	r.mu.RUnlock()
	// Compare even for unknown ids, so timing does not tell which ids exist.
	if !ok {
		k = Key{Hash: strings.Repeat("0", 64)}
	}
	match := k.Matches(secret)
	switch {
	case !ok || !match:
		return Key{}, ErrUnknownKey
	case k.Revoked:
		return Key{}, ErrRevoked
	case k.Expired(now):
		return Key{}, ErrExpired
	}
	return k, nil
}

// Key returns a key by id.
func (r *Registry) Key(id string) (Key, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.keys[id]
	return k, ok
}

// Keys lists every key, newest first.
func (r *Registry) Keys() []Key {
	r.mu.RLock()
	out := make([]Key, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, k)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Key) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// TenantOf returns the tenant a topic is mapped to.
func (r *Registry) TenantOf(topic string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.topics[topic]
	return t, ok
}

// Mappings lists every topic mapping.
func (r *Registry) Mappings() []TopicTenant {
	r.mu.RLock()
	out := make([]TopicTenant, 0, len(r.topics))
	for t, tenant := range r.topics {
		out = append(out, TopicTenant{Topic: t, Tenant: tenant})
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b TopicTenant) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// Writer writes to the control topic.
type Writer struct {
	cl    *kgo.Client
	topic string
}

// NewWriter wraps a producing client (acks=all).
func NewWriter(cl *kgo.Client, topic string) *Writer { return &Writer{cl: cl, topic: topic} }

// PutKey stores a key (a new one, or a new state of one: revoked).
func (w *Writer) PutKey(ctx context.Context, k Key) error {
	_, err := w.putKey(ctx, k)
	return err
}

func (w *Writer) putKey(ctx context.Context, k Key) (int64, error) {
	v, err := json.Marshal(k)
	if err != nil {
		return 0, err
	}
	return w.put(ctx, "key/"+k.ID, v)
}

// PutMapping maps a topic to a tenant.
func (w *Writer) PutMapping(ctx context.Context, m TopicTenant) error {
	_, err := w.putMapping(ctx, m)
	return err
}

func (w *Writer) putMapping(ctx context.Context, m TopicTenant) (int64, error) {
	if !TenantPattern.MatchString(m.Tenant) {
		return 0, fmt.Errorf("tenant %q is not a valid tenant name", m.Tenant)
	}
	v, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	return w.put(ctx, "topic/"+m.Topic, v)
}

func (w *Writer) put(ctx context.Context, key string, value []byte) (int64, error) {
	r, err := w.cl.ProduceSync(ctx, &kgo.Record{Topic: w.topic, Key: []byte(key), Value: value}).First()
	if err != nil {
		return 0, fmt.Errorf("write %s to %s: %w", key, w.topic, err)
	}
	return r.Offset, nil
}

// Plane is a registry and a writer together, reading its own writes: a
// put returns once the registry has applied it, so a key created through
// the admin API authenticates on the next request.
type Plane struct {
	*Registry
	W *Writer
}

// PutKey writes k and waits until the registry holds it.
func (p Plane) PutKey(ctx context.Context, k Key) error {
	off, err := p.W.putKey(ctx, k)
	if err != nil {
		return err
	}
	return p.WaitApplied(ctx, off)
}

// PutMapping writes m and waits until the registry holds it.
func (p Plane) PutMapping(ctx context.Context, m TopicTenant) error {
	off, err := p.W.putMapping(ctx, m)
	if err != nil {
		return err
	}
	return p.WaitApplied(ctx, off)
}

// CreateTopic creates the control topic (compacted, one partition so every
// reader sees one order) if it does not exist.
func CreateTopic(ctx context.Context, adm *kadm.Client, topic string, replication int16) error {
	compact := "compact"
	resp, err := adm.CreateTopics(ctx, 1, replication, map[string]*string{"cleanup.policy": &compact}, topic)
	if err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	for _, t := range resp.Sorted() {
		if t.Err != nil && !strings.Contains(t.Err.Error(), "TOPIC_ALREADY_EXISTS") {
			return fmt.Errorf("create %s: %w", topic, t.Err)
		}
	}
	// A new topic answers UNKNOWN_TOPIC_OR_PARTITION until its partition
	// has a leader; the first key written right after (the local stack's
	// bootstrap) would fail on a loaded machine. Return once it can be used.
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if t, ok := md.Topics[topic]; ok && t.Err == nil && len(t.Partitions) > 0 {
				ready := true
				for _, p := range t.Partitions {
					ready = ready && p.Err == nil && p.Leader >= 0
				}
				if ready {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create %s: no leader yet: %w", topic, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
