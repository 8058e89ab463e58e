package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:8080" || cfg.RawTopic != "events.raw" || cfg.RedisAddr != DefaultRedisAddr ||
		len(cfg.KafkaBrokers) != 1 || cfg.KafkaBrokers[0] != "127.0.0.1:9092" || cfg.FaultInjection {
		t.Errorf("defaults = %+v", cfg)
	}
	if l := cfg.Limits; l.MaxBodyBytes != 8<<20 || l.MaxEvents != 10000 || l.MaxEventBytes != 1<<20 || l.MaxDepth != 32 {
		t.Errorf("limits = %+v", l)
	}
	if cfg.ProduceTimeout != 5*time.Second {
		t.Errorf("produce timeout = %s", cfg.ProduceTimeout)
	}
}

func TestLoadOverrides(t *testing.T) {
	cfg, err := Load([]string{
		"TALLY_KAFKA_BROKERS= a:1, b:2 ,", "TALLY_REDIS_ADDR=", "TALLY_FAULT_INJECTION=true",
		"TALLY_MAX_EVENTS=5", "TALLY_KAFKA_SASL_MECHANISM=scram-sha-512", "TALLY_KAFKA_SASL_USER=u", "TALLY_KAFKA_SASL_PASSWORD=p",
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.KafkaBrokers, ",") != "a:1,b:2" {
		t.Errorf("brokers = %q", cfg.KafkaBrokers)
	}
	if cfg.RedisAddr != "" {
		t.Errorf("an empty TALLY_REDIS_ADDR must disable Redis, got %q", cfg.RedisAddr)
	}
	if !cfg.FaultInjection || cfg.Limits.MaxEvents != 5 || cfg.Kafka.SASLMechanism != "SCRAM-SHA-512" {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := Load([]string{
		"TALLY_MAX_EVENTS=0", "TALLY_MAX_DEPTH=-1", "TALLY_KAFKA_SASL_MECHANISM=GSSAPI",
		"TALLY_PRODUCE_TIMEOUT=40s", "TALLY_LOG_LEVEL=loud",
	})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"TALLY_MAX_EVENTS", "TALLY_MAX_DEPTH", "GSSAPI", "TALLY_PRODUCE_TIMEOUT", "TALLY_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := Load([]string{"TALLY_MAX_EVENTS=many"}); err == nil {
		t.Error("unparsable number accepted")
	}
}
