package deploy

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
)

// topicsJob renders the chart and returns the topic Job's env and script.
func topicsJob(t *testing.T, sets ...string) (map[string]string, string) {
	t.Helper()
	for _, r := range mustRender(t, nil, sets...) {
		j, ok := r.obj.(*batchv1.Job)
		if !ok || j.Name != "tally-topics" {
			continue
		}
		c := j.Spec.Template.Spec.Containers[0]
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		return env, strings.Join(c.Args, "\n")
	}
	t.Fatal("no topic Job")
	return nil, ""
}

func TestTopicsJobSetsDurabilityConfigs(t *testing.T) {
	for _, tc := range []struct {
		sets    []string
		wantISR string
	}{
		{nil, "1"},
		{[]string{"kafka.replicationFactor=3"}, "2"},
		{[]string{"kafka.replicationFactor=2"}, "2"},
		{[]string{"kafka.replicationFactor=5", "kafka.topics.minInsyncReplicas=3"}, "3"},
	} {
		env, script := topicsJob(t, tc.sets...)
		if env["MIN_ISR"] != tc.wantISR {
			t.Errorf("%v: MIN_ISR = %q, want %s", tc.sets, env["MIN_ISR"], tc.wantISR)
		}
		if env["MAX_MESSAGE_BYTES"] != "4194304" {
			t.Errorf("%v: MAX_MESSAGE_BYTES = %q", tc.sets, env["MAX_MESSAGE_BYTES"])
		}
		// All three topics (raw, dead letters, control), when created and when they already exist.
		if n := strings.Count(script, "--config unclean.leader.election.enable=false"); n != 3 {
			t.Errorf("%v: unclean.leader.election.enable=false set on %d created topics, want 3", tc.sets, n)
		}
		if n := strings.Count(script, `--config min.insync.replicas="$MIN_ISR"`); n != 3 {
			t.Errorf("%v: min.insync.replicas set on %d created topics, want 3", tc.sets, n)
		}
		// The control topic: one partition (one order for every reader), compacted (keys
		// never expire), also when it already existed.
		if env["CONTROL_TOPIC"] != "tally.control" {
			t.Errorf("%v: CONTROL_TOPIC = %q, want tally.control", tc.sets, env["CONTROL_TOPIC"])
		}
		if !strings.Contains(script, `--topic "$CONTROL_TOPIC" --partitions 1`) ||
			!strings.Contains(script, "--config cleanup.policy=compact") ||
			!strings.Contains(script, `--entity-name "$CONTROL_TOPIC" --add-config "$durable,cleanup.policy=compact"`) {
			t.Errorf("%v: the control topic is not created or kept compacted with one partition:\n%s", tc.sets, script)
		}
		if !strings.Contains(script, "kafka-configs.sh") || !strings.Contains(script, `--add-config "$durable"`) ||
			!strings.Contains(script, "unclean.leader.election.enable=false,") {
			t.Errorf("%v: existing topics do not get the durability configs:\n%s", tc.sets, script)
		}
	}
	if _, err := renderChart(t, nil, "kafka.replicationFactor=1", "kafka.topics.minInsyncReplicas=2"); err == nil ||
		!strings.Contains(err.Error(), "must not exceed kafka.replicationFactor") {
		t.Errorf("min.insync.replicas above the replication factor: render error = %v", err)
	}
}

func TestComposeDurabilitySettings(t *testing.T) {
	project, err := loadCompose(t, composeFile)
	if err != nil {
		t.Fatal(err)
	}
	kafka := project.Services["kafka"].Environment
	for key, want := range map[string]string{
		"KAFKA_DEFAULT_REPLICATION_FACTOR":     "1",
		"KAFKA_MIN_INSYNC_REPLICAS":            "1",
		"KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE": "false",
	} {
		if v := kafka[key]; v == nil || *v != want {
			t.Errorf("kafka %s = %v, want %s", key, v, want)
		}
	}
	initScript := strings.Join(project.Services["kafka-init"].Command, "\n")
	for _, want := range []string{"min.insync.replicas=1", "unclean.leader.election.enable=false", "max.message.bytes=4194304", "kafka-configs.sh"} {
		if !strings.Contains(initScript, want) {
			t.Errorf("kafka-init does not set %s", want)
		}
	}

	ch := project.Services["clickhouse"]
	var target string
	for _, c := range ch.Configs {
		if c.Source == "clickhouse-durability" {
			target = c.Target
		}
	}
	if !strings.HasPrefix(target, "/etc/clickhouse-server/config.d/") || !strings.HasSuffix(target, ".xml") {
		t.Errorf("clickhouse durability config mounted at %q, not in config.d", target)
	}
	cfg, ok := project.Configs["clickhouse-durability"]
	if !ok {
		t.Fatal("no clickhouse-durability config")
	}
	for _, want := range []string{"<merge_tree>", "<fsync_after_insert>1</fsync_after_insert>", "<fsync_part_directory>1</fsync_part_directory>"} {
		if !strings.Contains(cfg.Content, want) {
			t.Errorf("clickhouse durability config lacks %s:\n%s", want, cfg.Content)
		}
	}
}
