package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// aptPackage is a command the stack needs and the Debian package that
// provides it.
type aptPackage struct{ command, pkg string }

// aptPackages are what the stack and its tests run: the servers, the
// clients the tests and operators use (kcat produces Kafka-native events in
// the chaos suite), and Chromium for the browser tests when asked for.
func (c Config) aptPackages() []aptPackage {
	p := []aptPackage{
		{"redis-server", "redis-server"},
		{"redis-cli", "redis-tools"},
		{"clickhouse-server", "clickhouse-server"},
		{"clickhouse-client", "clickhouse-client"},
		{"kcat", "kcat"},
		{"curl", "curl"},
		// Network cuts of one node (Stack.Isolate).
		{"iptables", "iptables"},
	}
	if c.Chromium {
		p = append(p, aptPackage{"chromium", "chromium"})
	}

	return p
}

// Install installs what the stack needs and is missing: apt packages, the
// Apache Kafka jars (unless the broker is embedded) and, for a cluster, the
// ZooKeeper jars, both from Maven Central into CacheDir. It is idempotent.
func (s *Stack) Install(ctx context.Context) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return s.install(ctx)
}

func (s *Stack) install(ctx context.Context) error {
	var missing []string
	for _, p := range s.cfg.aptPackages() {
		if _, err := exec.LookPath(p.command); err != nil {
			missing = append(missing, p.pkg)
		}
	}
	if len(missing) > 0 {
		s.say("installing from apt: %s", strings.Join(missing, " "))
		if err := s.apt(ctx, "update", "-qq"); err != nil {
			return err
		}
		if err := s.apt(ctx, append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)...); err != nil {
			return err
		}
	}
	if s.cfg.Broker == RealKafka {
		if err := s.fetchJars(ctx, "Apache Kafka", s.cfg.kafkaHome(), "scripts/kafka/pom.xml", "-Dkafka.version="+s.cfg.KafkaVersion); err != nil {
			return err
		}
	}
	if s.cfg.Topology == Cluster {
		if err := s.fetchJars(ctx, "ZooKeeper", s.cfg.zookeeperHome(), "scripts/zookeeper/pom.xml", "-Dzookeeper.version="+s.cfg.ZooKeeperVersion); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stack) apt(ctx context.Context, args ...string) error {
	argv := append([]string{"apt-get"}, args...)
	if os.Getuid() != 0 {
		argv = append([]string{"sudo"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	return nil
}

// fetchJars copies the runtime dependencies of a Maven descriptor into
// home/libs once. It resolves into a private directory and renames it into
// place, so stacks sharing a cache never see half a download.
func (s *Stack) fetchJars(ctx context.Context, what, home, pom, version string) error {
	if _, err := os.Stat(filepath.Join(home, ".complete")); err == nil {
		return nil
	}
	for _, tool := range []string{"java", "mvn"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is required to run %s (fetched from Maven Central)", tool, what)
		}
	}
	s.say("fetching %s jars from Maven Central into %s", what, home)
	tmp := home + ".tmp-" + strconv.Itoa(os.Getpid())
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "mvn", "-q", "-B", "-f", filepath.Join(s.cfg.Root, pom), version,
		"dependency:copy-dependencies", "-DoutputDirectory="+filepath.Join(tmp, "libs"), "-DincludeScope=runtime")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("fetch %s jars: %w\n%s", what, err, out.String())
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(home, ".complete")); err == nil {
		return nil // another stack finished first
	}
	if err := os.RemoveAll(home); err != nil {
		return err
	}
	if err := os.Rename(tmp, home); err != nil && !errors.Is(err, os.ErrExist) {
		// Another stack may have renamed its copy into place first.
		if _, statErr := os.Stat(filepath.Join(home, ".complete")); statErr != nil {
			return err
		}
	}
	return nil
}
