// Package testenv finds the real Kafka, Redis and ClickHouse that integration
// tests run against. Every integration test asks it, so there is one place to
// change how services are found. Today the services are started by
// scripts/stack.sh (make test does it) and announced through TALLY_TEST_*
// variables. The hook for starting them with testcontainers-go where a
// Docker engine exists (startContainer) is not implemented yet: no Docker
// engine exists on the machines this project is built on, so that path could
// not be run, and untested code would be worse than none.
//
// A missing service is a skip only on a developer's machine; with CI=true it
// fails the test, so a CI run can never pass by skipping.
package testenv

import (
	"os"
	"strings"
	"testing"
)

// Service names the variable that announces each dependency.
const (
	KafkaEnv      = "TALLY_TEST_KAFKA_BROKERS"
	RedisEnv      = "TALLY_TEST_REDIS_ADDR"
	ClickHouseEnv = "TALLY_TEST_CLICKHOUSE_ADDR"
)

// Kafka returns seed brokers for a real Kafka cluster.
func Kafka(t testing.TB) []string {
	t.Helper()
	return strings.Split(lookup(t, KafkaEnv, "kafka"), ",")
}

// Redis returns the address of a real Redis server.
func Redis(t testing.TB) string {
	t.Helper()
	return lookup(t, RedisEnv, "redis")
}

// ClickHouse returns the native-protocol address of a real ClickHouse server.
func ClickHouse(t testing.TB) string {
	t.Helper()
	return lookup(t, ClickHouseEnv, "clickhouse")
}

func lookup(t testing.TB, env, name string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	if addr, ok := startContainer(t, name); ok {
		return addr
	}
	msg := name + " is not available: set " + env + " (make test-integration starts the local stack and sets it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
