package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/kafka"
	"github.com/testcontainers/testcontainers-go/modules/redis"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Images of the container path. Kafka: the testcontainers-go Kafka module
// (v0.44.0) drives Confluent's single-node KRaft image only, so it runs
// Kafka 3.5 where the local stack and compose run Apache Kafka 4.3; Tally uses
// nothing newer than Kafka 3.x offers. ClickHouse: the current line, so the
// integration suites also cover what production runs (the local stack runs
// Debian's 18.16).
const (
	KafkaImage      = "confluentinc/confluent-local:7.5.0"
	RedisImage      = "redis:7.4-alpine"
	ClickHouseImage = "clickhouse/clickhouse-server:25.8"
)

// clickHouseNativePort is the port the tests talk to (the native protocol);
// clickHouseHTTPPort only serves the readiness probe.
const (
	clickHouseNativePort = "9000/tcp"
	clickHouseHTTPPort   = "8123/tcp"
	redisPort            = "6379/tcp"
)

// startTimeout bounds pulling an image and waiting for the service to be ready.
const startTimeout = 5 * time.Minute

// runFunc starts a container from image with opts and returns it; the result
// is read through brokerLister or endpointer.
type runFunc func(ctx context.Context, image string, opts ...testcontainers.ContainerCustomizer) (any, error)

// service is one dependency: how it is announced by a local stack and how a
// container provides it elsewhere.
type service struct {
	name  string
	env   string
	image string
	// port is the container port the tests connect to; empty when the
	// container lists its own addresses (brokerLister).
	port string
	opts []testcontainers.ContainerCustomizer
	run  runFunc
}

func kafkaService() service {
	return service{
		name: "kafka", env: KafkaEnv, image: KafkaImage,
		opts: []testcontainers.ContainerCustomizer{kafka.WithClusterID("tally-testenv")},
		run: func(ctx context.Context, image string, opts ...testcontainers.ContainerCustomizer) (any, error) {
			c, err := kafka.Run(ctx, image, opts...)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
	}
}

func redisService() service {
	return service{
		name: "redis", env: RedisEnv, image: RedisImage, port: redisPort,
		run: func(ctx context.Context, image string, opts ...testcontainers.ContainerCustomizer) (any, error) {
			c, err := redis.Run(ctx, image, opts...)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
	}
}

func clickHouseService() service {
	return service{
		name: "clickhouse", env: ClickHouseEnv, image: ClickHouseImage, port: clickHouseNativePort,
		opts: []testcontainers.ContainerCustomizer{
			testcontainers.WithExposedPorts(clickHouseNativePort, clickHouseHTTPPort),
			testcontainers.WithEnv(map[string]string{
				// The image locks the password-less "default" user to localhost
				// unless told otherwise; the tests log in as it, as on the stack.
				"CLICKHOUSE_SKIP_USER_SETUP": "1",
			}),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
				hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: "nofile", Soft: 262144, Hard: 262144})
			}),
			testcontainers.WithWaitStrategyAndDeadline(2*time.Minute,
				wait.ForHTTP("/ping").WithPort(clickHouseHTTPPort),
				wait.ForListeningPort(clickHouseNativePort),
			),
		},
		run: func(ctx context.Context, image string, opts ...testcontainers.ContainerCustomizer) (any, error) {
			c, err := testcontainers.Run(ctx, image, opts...)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
	}
}

// brokerLister is a started Kafka container (kafka.KafkaContainer).
type brokerLister interface {
	Brokers(ctx context.Context) ([]string, error)
}

// endpointer is a started container that maps a container port to host:port
// (testcontainers.Container).
type endpointer interface {
	PortEndpoint(ctx context.Context, port string, proto string) (string, error)
}

// addressOf reads the address tests use from a started container: the
// broker list of a Kafka container, host:port of the service port otherwise.
func addressOf(ctx context.Context, c any, port string) (string, error) {
	if b, ok := c.(brokerLister); ok {
		brokers, err := b.Brokers(ctx)
		if err != nil {
			return "", fmt.Errorf("read brokers: %w", err)
		}
		if len(brokers) == 0 {
			return "", errors.New("the container lists no brokers")
		}
		return strings.Join(brokers, ","), nil
	}
	e, ok := c.(endpointer)
	if !ok {
		return "", fmt.Errorf("cannot read an address from a %T", c)
	}
	if port == "" {
		return "", errors.New("no service port to read")
	}
	addr, err := e.PortEndpoint(ctx, port, "")
	if err != nil {
		return "", fmt.Errorf("read endpoint of %s: %w", port, err)
	}
	return addr, nil
}

// containerSet starts each service's container at most once per test binary
// and hands every test the same address. The containers outlive single tests
// on purpose, like a TestMain fixture: starting Kafka takes seconds. Ryuk,
// testcontainers' reaper, removes them when the test binary exits.
type containerSet struct {
	mu      sync.Mutex
	started map[string]*startOnce
}

type startOnce struct {
	once sync.Once
	addr string
	err  error
}

func newContainerSet() *containerSet {
	return &containerSet{started: map[string]*startOnce{}}
}

func (s *containerSet) address(svc service) (string, error) {
	s.mu.Lock()
	st := s.started[svc.name]
	if st == nil {
		st = &startOnce{}
		s.started[svc.name] = st
	}
	s.mu.Unlock()
	st.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		c, err := svc.run(ctx, svc.image, svc.opts...)
		if err != nil {
			st.err = fmt.Errorf("start %s container %s: %w", svc.name, svc.image, err)
			return
		}
		addr, err := addressOf(ctx, c, svc.port)
		if err != nil {
			st.err = fmt.Errorf("%s container %s: %w", svc.name, svc.image, err)
			return
		}
		st.addr = addr
	})
	return st.addr, st.err
}

// dockerHealth asks the Docker engine testcontainers-go would use (DOCKER_HOST,
// ~/.testcontainers.properties, the usual sockets) for its info.
func dockerHealth(ctx context.Context) (err error) {
	// testcontainers-go panics on some broken Docker configurations; here that
	// only means "no usable Docker".
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("docker: %v", r)
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return err
	}
	return p.Health(ctx)
}

// defaultResolver is the resolver of this test binary: the environment, one
// Docker check, and the shared containers. It is the package's only state,
// and it exists so that tests share containers (see containerSet).
var defaultResolver = sync.OnceValue(func() *resolver {
	return &resolver{
		getenv:       os.Getenv,
		dockerHealth: sync.OnceValue(pingDocker),
		containers:   newContainerSet(),
	}
})
