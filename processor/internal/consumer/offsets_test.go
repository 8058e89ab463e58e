package consumer

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kadmFetch returns the committed offset per partition of group "g".
func kadmFetch(t *testing.T, cl *kgo.Client) map[int32]int64 {
	t.Helper()
	resp, err := kadm.NewClient(cl).FetchOffsets(context.Background(), "g")
	out := map[int32]int64{}
	if err != nil {
		return out
	}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At > 0 {
			out[o.Partition] = o.At
		}
	})
	return out
}
