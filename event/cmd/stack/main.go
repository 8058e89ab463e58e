// Command stack runs Tally's local stack (package event/localstack):
// `make up`, `make down`, `make status` and the test and benchmark scripts
// call it through scripts/stack.sh.
//
//	stack install            apt packages and Kafka (and ZooKeeper) jars
//	stack up [infra|all]     start what is not running, wait until ready
//	stack down               stop everything this stack started
//	stack clean              down, then remove STACK_DIR
//	stack status             one "<node>: running (pid N)" line per process
//	stack env                the services' settings, as shell assignments
//	stack nodes              every node with its ports
//	stack build | migrate    build the services | apply schema and topics
//	stack start|stop|restart|kill|pause|resume|wait NODE...
//	stack pid NODE
//
// Settings come from the environment (STACK_DIR, PORT_BASE, TOPOLOGY,
// PROCESSORS, …; see docs/local-stack.md). It lives in the shared module
// beside its package so that no production binary carries it, and it runs
// with `go run` from the workspace root, so it needs no install step.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tally-dev/tally/event/localstack"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "[stack] error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cmd := "up"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	cfg, err := localstack.FromEnv(root, os.Getenv)
	if err != nil {
		return err
	}
	cfg.Log = os.Stderr
	s, err := localstack.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// each runs f for every node named in args (at least one).
	each := func(f func(name string) error) error {
		if len(args) == 0 {
			return fmt.Errorf("usage: stack %s NODE... (nodes: %s)", cmd, names(s.Nodes()))
		}
		for _, name := range args {
			if err := f(name); err != nil {
				return err
			}
		}
		return nil
	}
	switch cmd {
	case "install":
		return s.Install(ctx)
	case "up":
		if len(args) > 0 && args[0] == "infra" {
			return s.UpInfra(ctx)
		}
		return s.Up(ctx)
	case "down":
		return s.Down(ctx)
	case "clean":
		return s.Clean(ctx)
	case "status":
		st := s.Status()
		if len(st) == 0 {
			fmt.Fprintf(os.Stderr, "[stack] nothing running under %s\n", cfg.Dir)
		}
		for _, n := range st {
			fmt.Println(n)
		}
		return nil
	case "env":
		for _, kv := range s.Env() {
			k, v, _ := strings.Cut(kv, "=")
			fmt.Printf("export %s=%s\n", k, shellQuote(v))
		}
		return nil
	case "nodes":
		for _, n := range s.Nodes() {
			var ports []string
			for _, r := range n.Roles() {
				ports = append(ports, fmt.Sprintf("%s=%d", r, n.Ports[r]))
			}
			fmt.Printf("%-13s %-11s %s\n", n.Name, n.Kind, strings.Join(ports, " "))
		}
		return nil
	case "build":
		return s.Build(ctx)
	case "migrate":
		return s.Migrate(ctx)
	case "start":
		return each(func(n string) error { return s.Start(ctx, n) })
	case "stop":
		return each(func(n string) error { return s.Stop(ctx, n) })
	case "restart":
		return each(func(n string) error { return s.Restart(ctx, n) })
	case "kill":
		return each(func(n string) error { return s.Kill(ctx, n) })
	case "pause":
		return each(s.Pause)
	case "resume":
		return each(s.Resume)
	case "wait":
		return each(func(n string) error { return s.WaitReady(ctx, n) })
	case "pid":
		return each(func(n string) error {
			pid, err := s.PID(n)
			if err != nil {
				return err
			}
			fmt.Println(pid)
			return nil
		})
	}
	return fmt.Errorf("unknown command %q (want install, up, down, clean, status, env, nodes, build, migrate, start, stop, restart, kill, pause, resume, wait or pid)", cmd)
}

// repoRoot is TALLY_STACK_ROOT (scripts/stack.sh sets it) or the nearest
// directory above the working directory that holds go.work.
func repoRoot() (string, error) {
	if r := os.Getenv("TALLY_STACK_ROOT"); r != "" {
		return r, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root, err := localstack.FindRoot(dir)
	if err != nil {
		return "", fmt.Errorf("%w; set TALLY_STACK_ROOT", err)
	}
	return root, nil
}

func names(nodes []localstack.Node) string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return strings.Join(out, ", ")
}

// shellQuote quotes v for a POSIX shell when it holds anything but plain
// characters.
func shellQuote(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:/@%+=-") == "" {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}
