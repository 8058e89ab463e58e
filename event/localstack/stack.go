package localstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tally-dev/tally/event/control"
)

// ErrNotRunning is returned by PID (wrapped) for a node that has no live
// process.
var ErrNotRunning = errors.New("not running")

// stopGrace is how long a node gets to shut down cleanly after SIGTERM
// before it is killed.
const stopGrace = 10 * time.Second

// Stack runs the nodes of one Config. Lifecycle operations (Up, Down,
// Clean, Install, Start, Stop, Restart) are serialised, within this process
// by a mutex and across processes by a lock file in Config.Dir, so two
// `make up` never start a node twice. Kill, Pause and Resume take no lock:
// like kill(1) they act at once, even while another operation runs.
type Stack struct {
	cfg Config
	mu  sync.Mutex
}

// New checks cfg and returns its Stack. Nothing is started.
func New(cfg Config) (*Stack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Stack{cfg: cfg}, nil
}

// Config returns the stack's configuration.
func (s *Stack) Config() Config { return s.cfg }

// Nodes lists the nodes Up starts, in start order.
func (s *Stack) Nodes() []Node { return s.cfg.Nodes() }

// Node finds a node by name (see Config.Node).
func (s *Stack) Node(name string) (Node, error) { return s.cfg.Node(name) }

func (s *Stack) say(format string, args ...any) {
	if s.cfg.Log != nil {
		fmt.Fprintf(s.cfg.Log, "[stack] "+format+"\n", args...)
	}
}

func (s *Stack) lock() (unlock func(), err error) {
	s.mu.Lock()
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(s.cfg.Dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		s.mu.Unlock()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		s.mu.Unlock()
	}, nil
}

// Up installs what is missing, starts every node that is not running,
// applies the schema and topics (processor migrate) and waits until each
// node is ready. Nodes already running are left alone, so Up is also how a
// test brings back whatever it broke.
func (s *Stack) Up(ctx context.Context) error { return s.up(ctx, true) }

// UpInfra is Up without the Tally services: Redis, ZooKeeper, ClickHouse
// and Kafka, migrated.
func (s *Stack) UpInfra(ctx context.Context) error { return s.up(ctx, false) }

func (s *Stack) up(ctx context.Context, services bool) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.checkRecord(); err != nil {
		return err
	}
	if err := s.install(ctx); err != nil {
		return err
	}
	if err := s.cfg.save(); err != nil {
		return fmt.Errorf("record configuration: %w", err)
	}
	var infra, apps []Node
	for _, n := range s.cfg.Nodes() {
		switch {
		case n.Kind.infra():
			infra = append(infra, n)
		case n.Kind != Dashboard:
			apps = append(apps, n)
		}
	}
	// The Go build overlaps the JVMs' start-up; the embedded broker is one
	// of the binaries it builds, so it waits for the build.
	if s.cfg.Broker == EmbeddedKafka {
		if err := s.build(ctx); err != nil {
			return err
		}
	}
	if err := parallel(ctx, s.build, func(ctx context.Context) error { return s.startInfra(ctx, infra) }); err != nil {
		return err
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if err := s.bootstrapKeys(ctx); err != nil {
		return err
	}
	if !services {
		s.say("infrastructure ready; logs in %s", s.cfg.logDir())
		return nil
	}
	if err := s.startAll(ctx, apps); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(s.cfg.Root, "dashboard", "package.json")); err == nil && s.cfg.Dashboard {
		d, _ := s.cfg.Node(string(Dashboard))
		if err := s.startAll(ctx, []Node{d}); err != nil {
			return err
		}
	}
	s.sayReady()
	return nil
}

// checkRecord refuses to start one topology on the data of the other. A
// directory without a record or without data is free to use.
func (s *Stack) checkRecord() error {
	rec, err := LoadConfig(s.cfg.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if rec.Topology == s.cfg.Topology || !exists(filepath.Join(s.cfg.Dir, "data")) {
		return nil
	}
	return fmt.Errorf("%s holds the data of a %s stack; run `clean` first, or set TOPOLOGY=%s", s.cfg.Dir, rec.Topology, rec.Topology)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (s *Stack) sayReady() {
	s.say("ready (%s topology):", s.cfg.Topology)
	for _, n := range s.cfg.Nodes() {
		switch n.Kind {
		case Ingestor:
			s.say("  %-12s %s   (POST /v1/events)", n.Name, n.URL())
		case QueryAPI:
			s.say("  %-12s %s   (GET /v1/aggregations, /v1/stats)", n.Name, n.URL())
		case Processor:
			s.say("  %-12s %s   (admin: /v1/status, /v1/faults)", n.Name, n.URL())
		case Dashboard:
			s.say("  %-12s %s", n.Name, n.URL())
		case ClickHouse:
			s.say("  %-12s %s   (http %s)", n.Name, n.Addr(), n.URL())
		default:
			s.say("  %-12s %s", n.Name, n.Addr())
		}
	}
	s.say("logs in %s; stop with 'make down'", s.cfg.logDir())
}

// startInfra starts the infrastructure nodes, kinds side by side, except
// that the ClickHouse servers wait for ZooKeeper: ClickHouse 18.16 can
// crash on an ON CLUSTER query when its first ZooKeeper session failed.
func (s *Stack) startInfra(ctx context.Context, infra []Node) error {
	byKind := map[Kind][]Node{}
	for _, n := range infra {
		byKind[n.Kind] = append(byKind[n.Kind], n)
	}
	return parallel(ctx,
		func(ctx context.Context) error { return s.startAll(ctx, byKind[Redis]) },
		func(ctx context.Context) error { return s.startAll(ctx, byKind[Kafka]) },
		func(ctx context.Context) error {
			if err := s.startAll(ctx, byKind[ZooKeeper]); err != nil {
				return err
			}
			return s.startAll(ctx, byKind[ClickHouse])
		})
}

// startAll starts every node of nodes that is not running, all at once,
// and waits until each is ready.
func (s *Stack) startAll(ctx context.Context, nodes []Node) error {
	var tasks []func(context.Context) error
	for _, n := range nodes {
		if s.Running(n.Name) {
			continue
		}
		tasks = append(tasks, func(ctx context.Context) error { return s.start(ctx, n, nil) })
	}
	return parallel(ctx, tasks...)
}

// StartOption changes how Start runs a node.
type StartOption func(*startOptions)

type startOptions struct{ env []string }

// WithEnv adds KEY=VALUE settings to the node's environment, after (and so
// over) the stack's own: a failpoint or a negative control for one
// processor.
func WithEnv(kv ...string) StartOption {
	return func(o *startOptions) { o.env = append(o.env, kv...) }
}

// Start starts node name if it is not running and waits until it is ready.
// A node that exits during start-up returns an error wrapping ErrExited.
func (s *Stack) Start(ctx context.Context, name string, opts ...StartOption) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return s.startNamed(ctx, name, opts)
}

func (s *Stack) startNamed(ctx context.Context, name string, opts []StartOption) error {
	n, err := s.cfg.Node(name)
	if err != nil {
		return err
	}
	if s.Running(n.Name) {
		return nil
	}
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := s.prepare(ctx, n); err != nil {
		return err
	}
	return s.start(ctx, n, o.env)
}

// prepare makes sure what node n runs from exists, for a node started on
// its own rather than by Up.
func (s *Stack) prepare(ctx context.Context, n Node) error {
	switch {
	case n.Kind == Kafka && s.cfg.Broker == RealKafka, n.Kind == ZooKeeper:
		return s.install(ctx)
	case n.Kind == Kafka, n.Kind == Ingestor, n.Kind == Processor, n.Kind == QueryAPI:
		for _, b := range []string{"ingestor", "processor", "queryapi", "devbroker"} {
			if _, err := os.Stat(filepath.Join(s.cfg.binDir(), b)); err != nil {
				return s.build(ctx)
			}
		}
	}
	return nil
}

// start spawns node n and waits until it is ready.
func (s *Stack) start(ctx context.Context, n Node, extraEnv []string) error {
	cmd, err := s.command(ctx, n, extraEnv)
	if err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	s.say("starting %s on :%d", n.Name, n.Port())
	pid, start, err := spawn(cmd)
	if err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	if err := writePIDFile(s.cfg.pidPath(n.Name), pid, start); err != nil {
		return err
	}
	running := func() bool { return alive(pid, start) }
	return waitReady(ctx, n.Name, readyTimeout(n.Kind), func(ctx context.Context) error { return s.cfg.probe(ctx, n) }, running, cmd.log)
}

// WaitReady waits until node name answers its readiness check. A node
// that is not running fails at once with ErrNotRunning.
func (s *Stack) WaitReady(ctx context.Context, name string) error {
	n, err := s.cfg.Node(name)
	if err != nil {
		return err
	}
	if _, err := s.PID(n.Name); err != nil {
		return err
	}
	return waitReady(ctx, n.Name, readyTimeout(n.Kind), func(ctx context.Context) error { return s.cfg.probe(ctx, n) },
		func() bool { return s.Running(n.Name) }, s.cfg.LogPath(n.Name))
}

// Stop stops node name: SIGTERM to its process group, SIGKILL after ten
// seconds. A node that is not running is not an error.
func (s *Stack) Stop(ctx context.Context, name string) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return s.stop(ctx, name)
}

func (s *Stack) stop(ctx context.Context, name string) error {
	path := s.cfg.pidPath(name)
	pid, start, err := readPIDFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if alive(pid, start) {
		s.say("stopping %s", name)
		killed, err := terminate(ctx, pid, stopGrace)
		if killed {
			s.say("%s did not stop in %v; killed", name, stopGrace)
		}
		if err != nil {
			return fmt.Errorf("stop %s: %w", name, err)
		}
	}
	return os.Remove(path)
}

// Restart stops node name and starts it again (with opts).
func (s *Stack) Restart(ctx context.Context, name string, opts ...StartOption) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.stop(ctx, name); err != nil {
		return err
	}
	return s.startNamed(ctx, name, opts)
}

// Kill is kill -9 of node name's process group; it returns once every
// process of the group is gone. The pid file stays, so Status shows the
// node as stopped and Up starts it again.
func (s *Stack) Kill(ctx context.Context, name string) error {
	pid, err := s.PID(name)
	if err != nil {
		return fmt.Errorf("kill %s: %w", name, err)
	}
	return killGroup(ctx, pid)
}

// Pause stops node name's processes with SIGSTOP: they hold their sockets
// and sessions but do nothing, as a process stuck in a long GC would.
func (s *Stack) Pause(name string) error { return s.Signal(name, syscall.SIGSTOP) }

// Resume continues a paused node with SIGCONT.
func (s *Stack) Resume(name string) error { return s.Signal(name, syscall.SIGCONT) }

// Signal sends sig to node name's process group.
func (s *Stack) Signal(name string, sig syscall.Signal) error {
	pid, err := s.PID(name)
	if err != nil {
		return fmt.Errorf("signal %s: %w", name, err)
	}
	return signalGroup(pid, sig)
}

// PID is the process id of node name, which leads the node's process
// group. It fails with ErrNotRunning when the node has no live process.
func (s *Stack) PID(name string) (int, error) {
	if _, err := s.cfg.Node(name); err != nil {
		return 0, err
	}
	return s.pid(name)
}

// pid is PID for any name with a pid file, including names an older stack
// script wrote.
func (s *Stack) pid(name string) (int, error) {
	pid, start, err := readPIDFile(s.cfg.pidPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", name, ErrNotRunning)
	}
	if err != nil {
		return 0, err
	}
	if !alive(pid, start) {
		return 0, fmt.Errorf("%s (pid %d): %w", name, pid, ErrNotRunning)
	}
	return pid, nil
}

// Running reports whether node name has a live process.
func (s *Stack) Running(name string) bool {
	_, err := s.pid(name)
	return err == nil
}

// NodeStatus is one line of Status.
type NodeStatus struct {
	Name    string
	PID     int // 0 when stopped
	Running bool
}

func (st NodeStatus) String() string {
	if st.Running {
		return fmt.Sprintf("%s: running (pid %d)", st.Name, st.PID)
	}
	return st.Name + ": stopped"
}

// Status lists every node this stack has started (it has a pid file), in
// start order; a node killed or crashed shows as stopped.
func (s *Stack) Status() []NodeStatus {
	var out []NodeStatus
	for _, name := range s.started() {
		st := NodeStatus{Name: name}
		if pid, err := s.pid(name); err == nil {
			st.PID, st.Running = pid, true
		}
		out = append(out, st)
	}
	return out
}

// started lists the names with a pid file, in start order. Names this
// version does not know (state of an older stack script) come last.
func (s *Stack) started() []string {
	files, _ := filepath.Glob(filepath.Join(s.cfg.runDir(), "*.pid"))
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".pid"))
	}
	order := func(name string) int {
		if k, i, ok := parseName(name); ok {
			return slices.Index(kindOrder, k)*1000 + i
		}
		return len(kindOrder) * 1000
	}
	slices.SortStableFunc(names, func(a, b string) int {
		if d := order(a) - order(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return names
}

// Down stops every node this stack started: services first, then the
// infrastructure, the nodes of one kind together.
func (s *Stack) Down(ctx context.Context) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return s.down(ctx)
}

func (s *Stack) down(ctx context.Context) error {
	var errs []error
	if s.cfg.Topology == Cluster {
		// A cut left by a test that died mid-fault would outlive the
		// stack on these ports.
		for _, n := range s.cfg.Nodes() {
			if n.Kind == Kafka || n.Kind == ClickHouse || n.Kind == ZooKeeper {
				errs = append(errs, s.Heal(ctx, n.Name))
			}
		}
	}
	byRank := map[int][]string{}
	var ranks []int
	for _, name := range s.started() {
		r := stopRank(name)
		if byRank[r] == nil {
			ranks = append(ranks, r)
		}
		byRank[r] = append(byRank[r], name)
	}
	slices.Sort(ranks)
	for _, r := range ranks {
		var tasks []func(context.Context) error
		for _, name := range byRank[r] {
			tasks = append(tasks, func(ctx context.Context) error { return s.stop(ctx, name) })
		}
		// Every node is stopped even if one fails to: keep going.
		errs = append(errs, all(ctx, tasks...))
	}
	return errors.Join(errs...)
}

// Clean stops everything and removes Config.Dir: data, logs, pid files.
func (s *Stack) Clean(ctx context.Context) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.down(ctx); err != nil {
		return err
	}
	if err := os.RemoveAll(s.cfg.Dir); err != nil {
		return err
	}
	s.say("removed %s", s.cfg.Dir)
	return nil
}

// Env is the services' environment for this stack, as KEY=VALUE in sorted
// order: the addresses of Kafka, Redis and ClickHouse, topics, group,
// partitions and replication factor. On a cluster every broker and every
// ClickHouse replica is listed (the cluster name is in
// TALLY_CLICKHOUSE_CLUSTER: migrate creates replicated tables ON CLUSTER and
// the processors write with a quorum).
func (s *Stack) Env() []string {
	c := s.cfg
	var brokers []string
	for i := 1; i <= c.count(Kafka); i++ {
		brokers = append(brokers, c.node(Kafka, i).Addr())
	}
	redis, _ := c.Node(string(Redis))
	// On a cluster the services know every replica: a connection goes to
	// the first that answers.
	var chs []string
	for i := 1; i <= c.count(ClickHouse); i++ {
		chs = append(chs, c.node(ClickHouse, i).Addr())
	}
	env := []string{
		"TALLY_KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"TALLY_REDIS_ADDR=" + redis.Addr(),
		"TALLY_CLICKHOUSE_ADDR=" + strings.Join(chs, ","),
		"TALLY_CLICKHOUSE_DATABASE=" + c.Database,
		"TALLY_RAW_TOPIC=" + c.RawTopic,
		"TALLY_DLQ_TOPIC=" + c.DLQTopic,
		"TALLY_CONSUMER_GROUP=" + c.ConsumerGroup,
		fmt.Sprintf("TALLY_FAULT_INJECTION=%t", c.FaultInjection),
		"TALLY_AUTH=" + c.Auth,
		// Every service — ingestor, processors, query API — follows the
		// control topic the bootstrap keys are written to, and the
		// ingestor signs tenants with the secret the processors verify.
		"TALLY_CONTROL_TOPIC=" + control.DefaultTopic,
		"TALLY_TENANT_SECRET=" + s.tenantSecret(),
		fmt.Sprintf("TALLY_PARTITIONS=%d", c.Partitions),
		fmt.Sprintf("TALLY_REPLICATION_FACTOR=%d", c.count(Kafka)),
	}
	if c.Topology == Cluster {
		env = append(env, "TALLY_CLICKHOUSE_CLUSTER="+c.ClickHouseCluster)
	}
	slices.Sort(env)
	return env
}

// environ is the environment of a process of this stack: the base (Env or
// this process's), then the stack's settings, then extra.
func (s *Stack) environ(extra ...string) []string {
	base := s.cfg.Env
	if base == nil {
		base = os.Environ()
	}
	env := slices.Concat(base, s.Env(), extra)
	return env
}

// command is how node n is run. It writes the node's configuration files
// first (they are rewritten on every start, so a changed port or version
// takes effect) and, for a Kafka broker, formats its storage once.
func (s *Stack) command(ctx context.Context, n Node, extraEnv []string) (command, error) {
	c := s.cfg
	cmd := command{log: c.LogPath(n.Name), env: slices.Concat(s.environ(), extraEnv)}
	conf := c.confDir(n)
	if n.Kind.infra() {
		if err := os.MkdirAll(c.dataDir(n), 0o755); err != nil {
			return cmd, err
		}
	}
	switch n.Kind {
	case Redis:
		path := filepath.Join(conf, "redis.conf")
		if err := writeFileAtomic(path, []byte(c.redisConf(n))); err != nil {
			return cmd, err
		}
		cmd.argv = []string{"redis-server", path}
	case ZooKeeper:
		path := filepath.Join(conf, "zoo.cfg")
		if err := writeFileAtomic(path, []byte(c.zooCfg(n))); err != nil {
			return cmd, err
		}
		cmd.argv = append(c.zookeeperJVM(), "org.apache.zookeeper.server.quorum.QuorumPeerMain", path)
	case ClickHouse:
		files, err := c.clickhouseFiles(n)
		if err != nil {
			return cmd, err
		}
		for rel, text := range files {
			if err := writeFileAtomic(filepath.Join(conf, rel), []byte(text)); err != nil {
				return cmd, err
			}
		}
		for _, d := range []string{"tmp", "user_files", "format_schemas"} {
			if err := os.MkdirAll(filepath.Join(c.dataDir(n), d), 0o755); err != nil {
				return cmd, err
			}
		}
		cmd.argv = []string{"clickhouse-server", "--config-file=" + filepath.Join(conf, "config.xml")}
	case Kafka:
		if c.Broker == EmbeddedKafka {
			cmd.argv = []string{filepath.Join(c.binDir(), "devbroker"), "-port", fmt.Sprint(n.Port()), "-partitions", fmt.Sprint(c.Partitions)}
			break
		}
		path := filepath.Join(conf, "server.properties")
		if err := writeFileAtomic(path, []byte(c.kafkaProperties(n))); err != nil {
			return cmd, err
		}
		if err := s.formatKafka(ctx, n, path); err != nil {
			return cmd, err
		}
		cmd.argv = append(c.kafkaJVM(), "kafka.Kafka", path)
	case Ingestor, QueryAPI:
		cmd.argv = []string{filepath.Join(c.binDir(), string(n.Kind))}
		cmd.env = slices.Concat(s.environ("TALLY_HTTP_ADDR="+n.Addr()), memoryBudget(), extraEnv)
	case Processor:
		cmd.argv = []string{filepath.Join(c.binDir(), "processor"), "run"}
		cmd.env = slices.Concat(s.environ("TALLY_HTTP_ADDR="+n.Addr(), "TALLY_INSTANCE="+n.Name, "TALLY_GROUP_INSTANCE_ID="+n.Name),
			memoryBudget(), extraEnv)
	case Dashboard:
		if err := s.buildDashboard(ctx); err != nil {
			return cmd, err
		}
		ingestor, _ := c.Node(string(Ingestor))
		queryapi, _ := c.Node(string(QueryAPI))
		admin, _ := c.Node(nodeName(Processor, 1))
		cmd.dir = filepath.Join(c.Root, "dashboard")
		cmd.argv = []string{"./node_modules/.bin/vite", "preview", "--host", Host, "--port", fmt.Sprint(n.Port()), "--strictPort"}
		cmd.env = slices.Concat(s.environ("TALLY_INGESTOR_URL="+ingestor.URL(), "TALLY_QUERYAPI_URL="+queryapi.URL(),
			"TALLY_PROCESSOR_ADMIN_URL="+admin.URL(), "TALLY_DASHBOARD_KEY="+s.key("dashboard")), extraEnv)
	}
	return cmd, nil
}

// memoryBudget is the soft memory limit of a Tally service on the local
// stack, where no container limit exists for automemlimit to read: the
// services' budget is 300 MB of resident memory (MISSION.md), and the Go
// heap is kept below it. A GOMEMLIMIT in the caller's environment wins.
func memoryBudget() []string {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return nil
	}
	return []string{"GOMEMLIMIT=240MiB"}
}

// kafkaJVM is the java command line of a broker, up to the main class.
func (c Config) kafkaJVM() []string {
	return []string{"java", "-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
		"-Dlog4j.configuration=file:" + filepath.Join(c.Root, "scripts/kafka/log4j.properties"),
		"-Dlog4j2.configurationFile=" + filepath.Join(c.Root, "scripts/kafka/log4j2.yaml"),
		"-cp", filepath.Join(c.kafkaHome(), "libs", "*")}
}

// zookeeperJVM is the java command line of ZooKeeper, up to the main class.
func (c Config) zookeeperJVM() []string {
	return []string{"java", "-Xms64m", "-Xmx256m", "-Djava.awt.headless=true",
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-cp", filepath.Join(c.zookeeperHome(), "libs", "*")}
}

// formatKafka formats broker n's log directory once, with the cluster id
// every broker of this stack shares.
func (s *Stack) formatKafka(ctx context.Context, n Node, properties string) error {
	if _, err := os.Stat(filepath.Join(s.cfg.dataDir(n), "meta.properties")); err == nil {
		return nil
	}
	id, err := s.kafkaClusterID()
	if err != nil {
		return err
	}
	s.say("formatting %s storage", n.Name)
	log, err := openLog(s.cfg.LogPath(n.Name))
	if err != nil {
		return err
	}
	defer log.Close()
	argv := append(s.cfg.kafkaJVM(), "kafka.tools.StorageTool", "format", "-t", id, "-c", properties)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("format kafka storage (log: %s): %w\n%s", log.Name(), err, tail(log.Name(), 20))
	}
	return nil
}

// kafkaClusterID is the stack's Kafka cluster id, made once: 16 random
// bytes in Kafka's base64 form, never starting with '-' (the storage tool
// would read it as an option).
func (s *Stack) kafkaClusterID() (string, error) {
	path := filepath.Join(s.cfg.Dir, "data", "kafka-cluster.id")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	var id string
	for id == "" || id[0] == '-' {
		var raw [16]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", err
		}
		id = base64.RawURLEncoding.EncodeToString(raw[:])
	}
	if err := writeFileAtomic(path, []byte(id+"\n")); err != nil {
		return "", err
	}
	return id, nil
}

// Build compiles the services (and the embedded broker) into Dir/bin.
// Go's build cache makes it a no-op when nothing changed.
func (s *Stack) Build(ctx context.Context) error { return s.build(ctx) }

func (s *Stack) build(ctx context.Context) error {
	if err := os.MkdirAll(s.cfg.binDir(), 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", s.cfg.binDir()+"/",
		"./ingestor/cmd/ingestor", "./processor/cmd/processor", "./processor/cmd/devbroker", "./queryapi/cmd/queryapi")
	cmd.Dir = s.cfg.Root
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out.String())
	}
	return nil
}

// Migrate runs `processor migrate`: the ClickHouse schema and the topics
// (with the stack's partitions and replication factor). It is idempotent.
func (s *Stack) Migrate(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(s.cfg.binDir(), "processor")); err != nil {
		if err := s.build(ctx); err != nil {
			return err
		}
	}
	return s.migrate(ctx)
}

func (s *Stack) migrate(ctx context.Context) error {
	s.say("applying the ClickHouse schema and Kafka topics (%d partitions, replication factor %d)", s.cfg.Partitions, s.cfg.count(Kafka))
	path := s.cfg.LogPath("migrate")
	log, err := openLog(path)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(s.cfg.binDir(), "processor"), "migrate")
	cmd.Env = s.environ()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("migrate (log: %s): %w\n%s", path, err, tail(path, 20))
	}
	return nil
}

// Key files the stack bootstraps (KeyPath): the first admin key, an
// ingest+query key of the default tenant, and the dashboard server's own.
var bootstrapKeys = []struct{ name, scopes string }{
	{"admin", "admin"}, {"default", "ingest,query"}, {"dashboard", "admin"},
}

// KeyPath is where the stack keeps the API key called name.
func (c Config) KeyPath(name string) string { return filepath.Join(c.Dir, name+".key") }

// key reads the API key called name ("" if there is none).
func (s *Stack) key(name string) string {
	b, err := os.ReadFile(s.cfg.KeyPath(name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// tenantSecret is the secret the stack's ingestors and processors share to
// sign tenants, made once per stack directory.
func (s *Stack) tenantSecret() string {
	path := filepath.Join(s.cfg.Dir, "tenant.secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b))
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	secret := hex.EncodeToString(b[:])
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err == nil {
		_ = os.WriteFile(path, []byte(secret+"\n"), 0o600)
	}
	return secret
}

// bootstrapKeys makes sure the keys of bootstrapKeys exist (created on a
// stack's first start, or again when its Kafka data was wiped) and maps
// the raw topic to the default tenant (so Kafka-native producers work out
// of the box, by an explicit mapping). New keys are printed; every key
// stays in its file.
func (s *Stack) bootstrapKeys(ctx context.Context) error {
	before := map[string]string{}
	for _, k := range bootstrapKeys {
		before[k.name] = s.key(k.name)
	}
	proc := filepath.Join(s.cfg.binDir(), "processor")
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, proc, args...)
		cmd.Env = s.environ()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("processor %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("keys", "map", "--topic", s.cfg.RawTopic, "--tenant", "default"); err != nil {
		return err
	}
	changed := false
	for _, k := range bootstrapKeys {
		if err := run("keys", "ensure", "--tenant", "default", "--scopes", k.scopes, "--name", "stack-"+k.name,
			"--out", s.cfg.KeyPath(k.name)); err != nil {
			return err
		}
		changed = changed || s.key(k.name) != before[k.name]
	}
	if changed {
		// Printed once, when created; the files keep them.
		s.say("created API keys for tenant default (kept in %s):", s.cfg.Dir)
		s.say("  admin         %s", s.key("admin"))
		s.say("  ingest+query  %s", s.key("default"))
	}
	return nil
}

// buildDashboard installs the dashboard's packages if needed and builds it.
func (s *Stack) buildDashboard(ctx context.Context) error {
	dir := filepath.Join(s.cfg.Root, "dashboard")
	path := s.cfg.LogPath("dashboard-build")
	log, err := openLog(path)
	if err != nil {
		return err
	}
	defer log.Close()
	run := func(what string, argv ...string) error {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = dir, s.environ()
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s (log: %s): %w", what, path, err)
		}
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		s.say("installing dashboard packages (npm ci)")
		if err := run("npm ci", "npm", "ci", "--no-audit", "--no-fund"); err != nil {
			return err
		}
	}
	s.say("building the dashboard")
	return run("dashboard build", "npm", "run", "build")
}

// parallel runs every task at once. The first to fail cancels the others;
// its error is returned once all have returned.
func parallel(ctx context.Context, tasks ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, task := range tasks {
		wg.Go(func() {
			if err := task(ctx); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	return first
}

// all runs every task at once, each to its end, and joins their errors.
func all(ctx context.Context, tasks ...func(context.Context) error) error {
	errs := make([]error, len(tasks))
	var wg sync.WaitGroup
	for i, task := range tasks {
		wg.Go(func() { errs[i] = task(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
