package config

import (
	"strings"
	"testing"
)

func TestDefaultsAreValid(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.Kafka.RawTopic != "events.raw" || c.ClickHouse.Database != "tally" || c.HTTPAddr != "127.0.0.1:8082" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Setenv("TALLY_BATCH_SIZE", "0")
	t.Setenv("TALLY_CLICKHOUSE_DATABASE", "tally; DROP")
	t.Setenv("TALLY_DLQ_TOPIC", "events.raw")
	t.Setenv("TALLY_FAILPOINT", "after-insert")
	_, err := Load()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"TALLY_BATCH_SIZE", "TALLY_CLICKHOUSE_DATABASE", "must differ", "TALLY_FAILPOINT needs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
