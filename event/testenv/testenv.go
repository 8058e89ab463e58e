// Package testenv finds the real Kafka, Redis and ClickHouse that integration
// tests run against. Every integration test asks it, so there is one place to
// change how services are found.
//
// Services come from one of two places, chosen by TALLY_TESTENV:
//
//   - the local stack: scripts/stack.sh (make test-integration) starts real
//     services on loopback and announces them in TALLY_TEST_KAFKA_BROKERS,
//     TALLY_TEST_REDIS_ADDR and TALLY_TEST_CLICKHOUSE_ADDR;
//   - containers: testcontainers-go starts Kafka (its Kafka module, Confluent's
//     KRaft image), Redis (its Redis module) and ClickHouse (the generic
//     container API and the current clickhouse/clickhouse-server image), once
//     per test binary, on a machine with a Docker engine.
//
// TALLY_TESTENV=stack uses only the variables; TALLY_TESTENV=containers always
// starts containers; unset (auto) uses the variables when any is set, and
// containers when none is set and a Docker engine answers.
//
// A service that is not available is a skip only on a developer's machine;
// with CI=true it fails the test, so a CI run can never pass by skipping. A
// container that was asked for and does not start is always a failure.
//
// The container path has not been run on the machines this project is built
// on: they have no Docker engine. It compiles and its unit tests cover
// everything up to the start of a container (the choice of source, the
// container requests, the addresses read back from a started container, the
// sharing of one container per service); the first run on a Docker laptop or
// CI runner is its first real test.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// The variables that announce each dependency of a running local stack.
const (
	KafkaEnv      = "TALLY_TEST_KAFKA_BROKERS"
	RedisEnv      = "TALLY_TEST_REDIS_ADDR"
	ClickHouseEnv = "TALLY_TEST_CLICKHOUSE_ADDR"
)

// KeepDatabasesEnv, set to 1, asks integration tests to leave the ClickHouse
// databases they create in place instead of dropping them when they end:
// the compatibility check (scripts/clickhouse-compat.sh) replays the SQL the
// tests sent on current ClickHouse, against the data they left.
const KeepDatabasesEnv = "TALLY_TEST_KEEP_DATABASES"

// KeepDatabases reports whether tests should keep their databases
// (KeepDatabasesEnv).
func KeepDatabases() bool { return os.Getenv(KeepDatabasesEnv) == "1" }

// ModeEnv chooses where services come from; see the package doc.
const ModeEnv = "TALLY_TESTENV"

// The values of ModeEnv.
const (
	ModeAuto       = ""
	ModeStack      = "stack"
	ModeContainers = "containers"
)

// Kafka returns seed brokers for a real Kafka cluster.
func Kafka(t testing.TB) []string {
	t.Helper()
	return strings.Split(lookup(t, kafkaService()), ",")
}

// Redis returns the address of a real Redis server.
func Redis(t testing.TB) string {
	t.Helper()
	return lookup(t, redisService())
}

// ClickHouse returns the native-protocol address of a real ClickHouse server
// whose user "default" has no password.
func ClickHouse(t testing.TB) string {
	t.Helper()
	return lookup(t, clickHouseService())
}

// errUnavailable marks "neither a stack nor Docker": a skip on a developer's
// machine, a failure in CI. Every other error is a failure everywhere.
var errUnavailable = errors.New("not available")

func lookup(t testing.TB, svc service) string {
	t.Helper()
	addr, err := defaultResolver().resolve(svc)
	if err == nil {
		return addr
	}
	if skippable(err, os.Getenv) {
		t.Skip(err)
	}
	t.Fatal(err)
	return ""
}

// skippable says whether a lookup error may skip the test: only an
// unavailable service, and never in CI.
func skippable(err error, getenv func(string) string) bool {
	return errors.Is(err, errUnavailable) && getenv("CI") != "true"
}

// source is where a service comes from.
type source int

const (
	fromStack source = iota + 1
	fromContainer
	fromNowhere
)

// choose decides where a service comes from. stackConfigured says whether any
// TALLY_TEST_* variable is set; dockerHealth is asked only when the choice
// depends on it.
func choose(mode string, stackConfigured bool, dockerHealth func() error) (source, error) {
	switch mode {
	case ModeStack:
		return fromStack, nil
	case ModeContainers:
		return fromContainer, nil
	case ModeAuto:
		if stackConfigured {
			return fromStack, nil
		}
		if dockerHealth() == nil {
			return fromContainer, nil
		}
		return fromNowhere, nil
	default:
		return 0, fmt.Errorf("%s=%q: want %q, %q or empty", ModeEnv, mode, ModeStack, ModeContainers)
	}
}

// resolver answers lookups; its parts are replaced by fakes in unit tests.
type resolver struct {
	getenv       func(string) string
	dockerHealth func() error
	containers   *containerSet
}

func (r *resolver) resolve(svc service) (string, error) {
	stackConfigured := r.getenv(KafkaEnv) != "" || r.getenv(RedisEnv) != "" || r.getenv(ClickHouseEnv) != ""
	src, err := choose(r.getenv(ModeEnv), stackConfigured, r.dockerHealth)
	if err != nil {
		return "", err
	}
	switch src {
	case fromStack:
		if v := r.getenv(svc.env); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("%s is %w: set %s (make test-integration starts the local stack and sets it)", svc.name, errUnavailable, svc.env)
	case fromContainer:
		return r.containers.address(svc)
	default:
		return "", fmt.Errorf("%s is %w: set %s (make test-integration starts the local stack and sets it), "+
			"or run where a Docker engine answers to start it with testcontainers-go", svc.name, errUnavailable, svc.env)
	}
}

// dockerHealthTimeout bounds the ping that decides whether Docker is there.
const dockerHealthTimeout = 5 * time.Second

// pingDocker asks the Docker engine testcontainers-go would use for its info.
func pingDocker() error {
	ctx, cancel := context.WithTimeout(context.Background(), dockerHealthTimeout)
	defer cancel()
	return dockerHealth(ctx)
}
