package consumer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fakePolls answers polls in order; an answer of nil waits for the poll's
// context and returns its error, as the client does when no fetch comes.
type fakePolls struct {
	t       *testing.T
	answers []kgo.Fetches
	asked   []int
	waits   []time.Duration // each poll's deadline, from the call (0: none)
}

func (f *fakePolls) poll(ctx context.Context, n int) kgo.Fetches {
	f.asked = append(f.asked, n)
	var wait time.Duration
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	f.waits = append(f.waits, wait)
	if len(f.answers) == 0 {
		f.t.Fatalf("poll %d not expected", len(f.asked))
	}
	a := f.answers[0]
	f.answers = f.answers[1:]
	if a == nil {
		<-ctx.Done()
		return kgo.NewErrFetch(ctx.Err())
	}
	return a
}

func fetchOf(part int32, from, n int) kgo.Fetches {
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: "events.raw", Partition: part, Offset: int64(from + i)}
	}
	return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "events.raw",
		Partitions: []kgo.FetchPartition{{Partition: part, Records: rs}}}}}}
}

func offsets(rs []*kgo.Record) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Offset
	}
	return out
}

// A batch holds the buffered fetch and the one fetched right after it: the
// records that arrived while the previous batch was processed.
func TestCollectTakesTheFetchAfterTheBufferedOne(t *testing.T) {
	f := &fakePolls{t: t, answers: []kgo.Fetches{fetchOf(0, 0, 3), fetchOf(0, 3, 2)}}
	var errs []error
	rs, closed := collect(context.Background(), f.poll, 10, time.Second, func(_ string, _ int32, err error) { errs = append(errs, err) })
	if closed || len(errs) > 0 {
		t.Fatalf("closed %v, errors %v", closed, errs)
	}
	if got := offsets(rs); len(got) != 5 || got[0] != 0 || got[4] != 4 {
		t.Fatalf("batch offsets %v, want 0..4", got)
	}
	if f.asked[0] != 10 || f.asked[1] != 7 {
		t.Fatalf("polls asked for %v records, want [10 7]: a batch never exceeds its size", f.asked)
	}
	if f.waits[0] != 0 || f.waits[1] <= 0 || f.waits[1] > time.Second {
		t.Fatalf("poll deadlines %v: the first waits for records, the second at most the top-up wait", f.waits)
	}
}

// A full batch, or a poll that brought nothing, is not topped up.
func TestCollectPollsOnceWhenFullOrEmpty(t *testing.T) {
	for _, first := range []kgo.Fetches{fetchOf(1, 0, 4), kgo.NewErrFetch(errors.New("broker gone"))} {
		f := &fakePolls{t: t, answers: []kgo.Fetches{first}}
		var errs int
		rs, closed := collect(context.Background(), f.poll, 4, time.Second, func(string, int32, error) { errs++ })
		if closed || len(f.asked) != 1 {
			t.Fatalf("closed %v, %d polls; want one poll", closed, len(f.asked))
		}
		if len(rs) == 0 && errs != 1 {
			t.Fatalf("a fetch error was not reported")
		}
	}
}

// No fetch within the wait: the batch is what was buffered, and the
// deadline is reported like any fetch error (the consumer does not log it).
func TestCollectDoesNotWaitPastTheTopUp(t *testing.T) {
	f := &fakePolls{t: t, answers: []kgo.Fetches{fetchOf(2, 7, 2), nil}}
	var errs []error
	start := time.Now()
	rs, closed := collect(context.Background(), f.poll, 100, 30*time.Millisecond, func(_ string, _ int32, err error) { errs = append(errs, err) })
	if closed || len(rs) != 2 {
		t.Fatalf("closed %v, %d records; want the 2 buffered", closed, len(rs))
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("the top-up waited %s", time.Since(start))
	}
	if len(errs) != 1 || !errors.Is(errs[0], context.DeadlineExceeded) {
		t.Fatalf("errors %v, want the top-up's deadline", errs)
	}
}

// A client closed during the top-up ends the loop; the first poll's records
// are not handed on (nothing is committed for them).
func TestCollectStopsWhenTheClientCloses(t *testing.T) {
	f := &fakePolls{t: t, answers: []kgo.Fetches{fetchOf(3, 0, 2), kgo.NewErrFetch(kgo.ErrClientClosed)}}
	rs, closed := collect(context.Background(), f.poll, 100, time.Second, func(string, int32, error) {})
	if !closed || rs != nil {
		t.Fatalf("closed %v, records %d; want closed and none", closed, len(rs))
	}
}
