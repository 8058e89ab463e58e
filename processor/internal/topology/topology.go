// Package topology is the pipeline's view of Kafka topics: each topic's
// incarnation id (a deleted and recreated topic gets a new one, and with it
// new read-model streams) and partition count (which decides owners).
package topology

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tally-dev/tally/processor/internal/pipeline"
)

// Kafka reads topic metadata through the admin API.
type Kafka struct {
	adm *kadm.Client
}

// New wraps an admin client.
func New(adm *kadm.Client) *Kafka { return &Kafka{adm: adm} }

var _ pipeline.Topology = (*Kafka)(nil)

// Topic returns the topic's id and partition count.
func (k *Kafka) Topic(ctx context.Context, name string) (pipeline.TopicInfo, error) {
	details, err := k.adm.ListTopics(ctx, name)
	if err != nil {
		return pipeline.TopicInfo{}, fmt.Errorf("list topic %s: %w", name, err)
	}
	d, ok := details[name]
	if !ok {
		return pipeline.TopicInfo{}, fmt.Errorf("topic %s does not exist", name)
	}
	if d.Err != nil {
		return pipeline.TopicInfo{}, fmt.Errorf("topic %s: %w", name, d.Err)
	}
	return pipeline.TopicInfo{ID: hex.EncodeToString(d.ID[:]), Partitions: int32(len(d.Partitions))}, nil
}
