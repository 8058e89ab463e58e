package localstack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Every node of the stack shares the loopback interface, so a network cut
// of one node cannot be a link going down. Isolate drops, with iptables,
// every TCP packet the node sends or is sent:
//   - packets to and from its listening ports (clients, peers);
//   - packets of the connections it holds open to others, by their local
//     ports, read from ss;
//   - packets of every socket it opens afterwards, by cgroup: its processes
//     move into a cgroup v2 group of their own, and the iptables cgroup
//     match drops what sockets created there send (a socket keeps the
//     group it was created in, which is why the open ones are cut by port).
//
// The node keeps running and keeps its sessions, as a server behind a
// failed switch would, until Heal. It needs root, iptables (Install
// installs it) and the unified cgroup hierarchy.

// cgroupRoot is where the unified (v2) cgroup hierarchy is mounted: alone
// at /sys/fs/cgroup, or beside the v1 controllers at /sys/fs/cgroup/unified.
func cgroupRoot() (string, error) {
	for _, dir := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "cgroup.controllers")); err == nil {
				return dir, nil
			}
		}
	}
	return "", errors.New("no unified (v2) cgroup hierarchy is mounted")
}

// cutChain is the iptables chain of node n's cut (at most 28 characters).
func cutChain(n Node) string { return fmt.Sprintf("TALLY-CUT-%d", n.Port()) }

// Isolate cuts node name off the network until Heal. Cutting a node that is
// already cut, or one that is not running, is an error.
func (s *Stack) Isolate(ctx context.Context, name string) error {
	n, err := s.cfg.Node(name)
	if err != nil {
		return err
	}
	pid, err := s.PID(name)
	if err != nil {
		return fmt.Errorf("isolate %s: %w", name, err)
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return fmt.Errorf("isolate %s: iptables is not installed (Install installs it): %w", name, err)
	}
	root, err := cgroupRoot()
	if err != nil {
		return fmt.Errorf("isolate %s: %w", name, err)
	}
	members, err := groupMembers(pid)
	if err != nil {
		return fmt.Errorf("isolate %s: list its processes: %w", name, err)
	}
	if len(members) == 0 {
		return fmt.Errorf("isolate %s: %w", name, ErrNotRunning)
	}
	chain := cutChain(n)
	group := filepath.Join(root, strings.ToLower(chain))
	if err := os.Mkdir(group, 0o755); err != nil {
		return fmt.Errorf("isolate %s: create its cgroup: %w", name, err)
	}
	for _, p := range members {
		if err := os.WriteFile(filepath.Join(group, "cgroup.procs"), []byte(strconv.Itoa(p)), 0o644); err != nil {
			_ = s.Heal(ctx, name)
			return fmt.Errorf("isolate %s: move pid %d into its cgroup: %w", name, p, err)
		}
	}
	var ports []int
	for _, role := range n.Roles() {
		ports = append(ports, n.Ports[role])
	}
	open, err := localPorts(ctx, members)
	if err != nil {
		_ = s.Heal(ctx, name)
		return fmt.Errorf("isolate %s: %w", name, err)
	}
	for _, p := range open {
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	rules := [][]string{{"-N", chain},
		{"-A", chain, "-m", "cgroup", "--path", "/" + filepath.Base(group), "-j", "DROP"}}
	for _, p := range ports {
		rules = append(rules, []string{"-A", chain, "-p", "tcp", "--dport", strconv.Itoa(p), "-j", "DROP"},
			[]string{"-A", chain, "-p", "tcp", "--sport", strconv.Itoa(p), "-j", "DROP"})
	}
	rules = append(rules, []string{"-I", "INPUT", "-j", chain}, []string{"-I", "OUTPUT", "-j", chain})
	for _, r := range rules {
		if err := iptables(ctx, r...); err != nil {
			_ = s.Heal(ctx, name)
			return fmt.Errorf("isolate %s: %w", name, err)
		}
	}
	s.say("cut %s off the network (%d processes, ports %v)", name, len(members), ports)
	return nil
}

// Heal undoes Isolate: the rules go, the node's processes return to the
// root cgroup. Healing a node that is not cut does nothing.
func (s *Stack) Heal(ctx context.Context, name string) error {
	n, err := s.cfg.Node(name)
	if err != nil {
		return err
	}
	chain := cutChain(n)
	var errs []error
	if _, err := exec.LookPath("iptables"); err == nil {
		for _, from := range []string{"INPUT", "OUTPUT"} {
			for iptables(ctx, "-C", from, "-j", chain) == nil {
				if err := iptables(ctx, "-D", from, "-j", chain); err != nil {
					errs = append(errs, err)
					break
				}
			}
		}
		if iptables(ctx, "-L", chain, "-n") == nil {
			errs = append(errs, iptables(ctx, "-F", chain), iptables(ctx, "-X", chain))
		}
	}
	if root, err := cgroupRoot(); err == nil {
		group := filepath.Join(root, strings.ToLower(chain))
		if procs, err := os.ReadFile(filepath.Join(group, "cgroup.procs")); err == nil {
			for _, p := range strings.Fields(string(procs)) {
				errs = append(errs, os.WriteFile(filepath.Join(root, "cgroup.procs"), []byte(p), 0o644))
			}
			errs = append(errs, os.Remove(group))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("heal %s: %w", name, err)
	}
	return nil
}

func iptables(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "iptables", append([]string{"-w"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// ssLine is one TCP socket in `ss -Htnp` output: its local port and the
// pids that hold it.
var ssLine = regexp.MustCompile(`^\S+\s+\d+\s+\d+\s+\S+:(\d+)\s+\S+\s+users:\((.*)\)`)
var ssPid = regexp.MustCompile(`pid=(\d+)`)

// localPorts lists the local ports of every TCP socket the processes hold.
func localPorts(ctx context.Context, pids []int) ([]int, error) {
	out, err := exec.CommandContext(ctx, "ss", "-Htnp").Output()
	if err != nil {
		return nil, fmt.Errorf("ss -Htnp: %w", err)
	}
	return parseSS(out, pids), nil
}

func parseSS(out []byte, pids []int) []int {
	var ports []int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := ssLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		for _, pm := range ssPid.FindAllStringSubmatch(m[2], -1) {
			pid, _ := strconv.Atoi(pm[1])
			port, _ := strconv.Atoi(m[1])
			if slices.Contains(pids, pid) && !slices.Contains(ports, port) {
				ports = append(ports, port)
			}
		}
	}
	return ports
}
