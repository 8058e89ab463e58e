package testenv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

func TestChoose(t *testing.T) {
	up := func() error { return nil }
	down := func() error { return errors.New("no docker") }
	tests := []struct {
		name    string
		mode    string
		stack   bool
		docker  func() error
		want    source
		wantErr bool
	}{
		{"auto, stack configured", ModeAuto, true, up, fromStack, false},
		{"auto, stack configured, no docker", ModeAuto, true, down, fromStack, false},
		{"auto, no stack, docker", ModeAuto, false, up, fromContainer, false},
		{"auto, nothing", ModeAuto, false, down, fromNowhere, false},
		{"stack forced, docker there", ModeStack, false, up, fromStack, false},
		{"containers forced over a stack", ModeContainers, true, down, fromContainer, false},
		{"unknown mode", "docker", false, up, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := choose(tt.mode, tt.stack, tt.docker)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("choose = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestChooseAsksDockerOnlyWhenItMatters(t *testing.T) {
	asked := 0
	docker := func() error { asked++; return nil }
	for _, mode := range []string{ModeStack, ModeContainers} {
		if _, err := choose(mode, false, docker); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := choose(ModeAuto, true, docker); err != nil {
		t.Fatal(err)
	}
	if asked != 0 {
		t.Errorf("Docker was asked %d times although the mode or the stack decided", asked)
	}
}

// fakeContainer stands in for a started container.
type fakeContainer struct {
	host  string
	ports map[string]string // container port -> host port
	err   error
}

func (f *fakeContainer) PortEndpoint(_ context.Context, port, proto string) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	hp, ok := f.ports[port]
	if !ok {
		return "", errors.New("port not exposed: " + port)
	}
	if proto != "" {
		return proto + "://" + f.host + ":" + hp, nil
	}
	return f.host + ":" + hp, nil
}

// fakeKafka, like kafka.KafkaContainer, is a container that also lists its brokers.
type fakeKafka struct {
	fakeContainer
	brokers    []string
	brokersErr error
}

func (f *fakeKafka) Brokers(context.Context) ([]string, error) { return f.brokers, f.brokersErr }

func TestAddressOf(t *testing.T) {
	ctx := context.Background()
	ch := &fakeContainer{host: "localhost", ports: map[string]string{"9000/tcp": "32771", "8123/tcp": "32772"}}
	if got, err := addressOf(ctx, ch, clickHouseNativePort); err != nil || got != "localhost:32771" {
		t.Errorf("clickhouse address = %q, %v; want the native port, not HTTP", got, err)
	}
	kc := &fakeKafka{brokers: []string{"localhost:32768", "localhost:32769"}}
	if got, err := addressOf(ctx, kc, ""); err != nil || got != "localhost:32768,localhost:32769" {
		t.Errorf("kafka address = %q, %v", got, err)
	}
	for name, tc := range map[string]struct {
		c    any
		port string
	}{
		"port not exposed":   {ch, "6379/tcp"},
		"no port":            {ch, ""},
		"endpoint error":     {&fakeContainer{err: errors.New("gone")}, "9000/tcp"},
		"no brokers":         {&fakeKafka{}, ""},
		"brokers error":      {&fakeKafka{brokers: []string{"x:1"}, brokersErr: errors.New("gone")}, ""},
		"not a container":    {struct{}{}, "9000/tcp"},
		"nil (a failed run)": {nil, "9000/tcp"},
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := addressOf(ctx, tc.c, tc.port); err == nil {
				t.Fatalf("address %q read from a %s", got, name)
			}
		})
	}
}

// request applies a service's options the way testcontainers.Run does before
// it creates the container.
func request(t *testing.T, svc service) testcontainers.GenericContainerRequest {
	t.Helper()
	req := testcontainers.GenericContainerRequest{ContainerRequest: testcontainers.ContainerRequest{Image: svc.image}}
	for _, o := range svc.opts {
		if err := o.Customize(&req); err != nil {
			t.Fatalf("%s option: %v", svc.name, err)
		}
	}
	return req
}

func TestServiceDefinitions(t *testing.T) {
	for _, svc := range []service{kafkaService(), redisService(), clickHouseService()} {
		if svc.run == nil || svc.image == "" || svc.env == "" {
			t.Errorf("%s: incomplete definition %+v", svc.name, svc)
		}
	}

	ch := request(t, clickHouseService())
	if ch.Image != "clickhouse/clickhouse-server:25.8" {
		t.Errorf("clickhouse image %q, want the current 25.8 line", ch.Image)
	}
	if !contains(ch.ExposedPorts, "9000/tcp") || !contains(ch.ExposedPorts, "8123/tcp") {
		t.Errorf("clickhouse exposes %v, want the native and HTTP ports", ch.ExposedPorts)
	}
	if ch.Env["CLICKHOUSE_SKIP_USER_SETUP"] != "1" {
		t.Errorf("clickhouse env %v: the tests' password-less default user would be refused over the network", ch.Env)
	}
	if ch.WaitingFor == nil {
		t.Error("clickhouse has no wait strategy: tests would race its start")
	}
	if ch.HostConfigModifier == nil {
		t.Error("clickhouse has no host config (nofile ulimit)")
	}
	if got := clickHouseService().port; got != "9000/tcp" {
		t.Errorf("clickhouse tests would connect to %s, want the native protocol", got)
	}

	k := request(t, kafkaService())
	if k.Env["CLUSTER_ID"] == "" {
		t.Errorf("kafka env %v has no CLUSTER_ID", k.Env)
	}
	if !strings.HasPrefix(KafkaImage, "confluentinc/confluent-local:") {
		t.Errorf("kafka image %q: the v0.44.0 Kafka module only drives Confluent's KRaft image", KafkaImage)
	}
	if got := redisService().port; got != "6379/tcp" {
		t.Errorf("redis port %s", got)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// fakeEnv is a map-backed getenv.
func fakeEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// fakeRun counts starts and returns a fake container.
type fakeRun struct {
	starts atomic.Int32
	c      any
	err    error
	image  string
}

func (f *fakeRun) run(_ context.Context, image string, _ ...testcontainers.ContainerCustomizer) (any, error) {
	f.starts.Add(1)
	f.image = image
	return f.c, f.err
}

func withRun(svc service, f *fakeRun) service {
	svc.run = f.run
	return svc
}

func TestResolveFromStack(t *testing.T) {
	r := &resolver{
		getenv:       fakeEnv(map[string]string{KafkaEnv: "127.0.0.1:29092", ClickHouseEnv: "127.0.0.1:29000"}),
		dockerHealth: func() error { t.Fatal("Docker asked although a stack is configured"); return nil },
		containers:   newContainerSet(),
	}
	if got, err := r.resolve(kafkaService()); err != nil || got != "127.0.0.1:29092" {
		t.Errorf("kafka = %q, %v", got, err)
	}
	// Part of a stack configured: the missing service is unavailable, not a container.
	_, err := r.resolve(redisService())
	if !errors.Is(err, errUnavailable) || !strings.Contains(err.Error(), RedisEnv) {
		t.Errorf("redis error = %v, want unavailable naming %s", err, RedisEnv)
	}
}

func TestResolveStartsOneContainerPerService(t *testing.T) {
	ch := &fakeRun{c: &fakeContainer{host: "localhost", ports: map[string]string{"9000/tcp": "32771", "8123/tcp": "32772"}}}
	kc := &fakeRun{c: &fakeKafka{brokers: []string{"localhost:32768"}}}
	r := &resolver{getenv: fakeEnv(nil), dockerHealth: func() error { return nil }, containers: newContainerSet()}

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if got, err := r.resolve(withRun(clickHouseService(), ch)); err != nil || got != "localhost:32771" {
				t.Errorf("clickhouse = %q, %v", got, err)
			}
		}()
		go func() {
			defer wg.Done()
			if got, err := r.resolve(withRun(kafkaService(), kc)); err != nil || got != "localhost:32768" {
				t.Errorf("kafka = %q, %v", got, err)
			}
		}()
	}
	wg.Wait()
	if ch.starts.Load() != 1 || kc.starts.Load() != 1 {
		t.Errorf("starts: clickhouse %d, kafka %d; want one container per service per test binary", ch.starts.Load(), kc.starts.Load())
	}
	if ch.image != ClickHouseImage {
		t.Errorf("started %q, want %q", ch.image, ClickHouseImage)
	}
}

func TestResolveContainersForcedOverStack(t *testing.T) {
	rc := &fakeRun{c: &fakeContainer{host: "127.0.0.1", ports: map[string]string{"6379/tcp": "32780"}}}
	r := &resolver{
		getenv:       fakeEnv(map[string]string{ModeEnv: ModeContainers, RedisEnv: "127.0.0.1:26379"}),
		dockerHealth: func() error { return errors.New("not asked") },
		containers:   newContainerSet(),
	}
	if got, err := r.resolve(withRun(redisService(), rc)); err != nil || got != "127.0.0.1:32780" {
		t.Errorf("redis = %q, %v; want the container, not the stack", got, err)
	}
}

func TestResolveFailures(t *testing.T) {
	// A container that does not start is a failure, never "unavailable" (a skip),
	// and the error is kept: later tests fail fast instead of retrying.
	broken := &fakeRun{err: errors.New("pull access denied")}
	r := &resolver{getenv: fakeEnv(nil), dockerHealth: func() error { return nil }, containers: newContainerSet()}
	for range 2 {
		_, err := r.resolve(withRun(clickHouseService(), broken))
		if err == nil || errors.Is(err, errUnavailable) || !strings.Contains(err.Error(), "pull access denied") {
			t.Errorf("err = %v, want the start failure", err)
		}
	}
	if broken.starts.Load() != 1 {
		t.Errorf("a failed start was retried %d times", broken.starts.Load())
	}

	// Neither a stack nor Docker: unavailable, and the message says both ways out.
	r = &resolver{getenv: fakeEnv(nil), dockerHealth: func() error { return errors.New("no socket") }, containers: newContainerSet()}
	_, err := r.resolve(kafkaService())
	if !errors.Is(err, errUnavailable) || !strings.Contains(err.Error(), KafkaEnv) || !strings.Contains(err.Error(), "Docker") {
		t.Errorf("err = %v", err)
	}

	// A misspelt mode fails instead of silently skipping.
	r = &resolver{getenv: fakeEnv(map[string]string{ModeEnv: "container"}), dockerHealth: func() error { return nil }, containers: newContainerSet()}
	if _, err := r.resolve(kafkaService()); err == nil || errors.Is(err, errUnavailable) {
		t.Errorf("err = %v, want a failure naming the mode", err)
	}
}

func TestSkippable(t *testing.T) {
	unavailable := fmt.Errorf("kafka is %w", errUnavailable)
	startFailed := errors.New("start kafka container: pull access denied")
	for _, tc := range []struct {
		err  error
		ci   string
		want bool
	}{
		{unavailable, "", true},
		{unavailable, "false", true},
		{unavailable, "true", false},
		{startFailed, "", false},
		{startFailed, "true", false},
	} {
		if got := skippable(tc.err, fakeEnv(map[string]string{"CI": tc.ci})); got != tc.want {
			t.Errorf("skippable(%v, CI=%q) = %v, want %v", tc.err, tc.ci, got, tc.want)
		}
	}
}

// TestDockerHealthAnswers runs the real check. On the machines this project is
// built on there is no Docker engine and it reports an error; on a Docker
// laptop it reports nil. Either way it must answer within its timeout, since
// every auto-mode run without a stack asks it once.
func TestDockerHealthAnswers(t *testing.T) {
	start := time.Now()
	err := pingDocker()
	if d := time.Since(start); d > dockerHealthTimeout+2*time.Second {
		t.Fatalf("Docker check took %v", d)
	}
	t.Logf("Docker engine: %v", errOrOK(err))
}

func errOrOK(err error) string {
	if err == nil {
		return "answers"
	}
	return err.Error()
}
