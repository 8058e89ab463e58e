//go:build integration

package tlsconf

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/redis/go-redis/v9"
)

// These tests start Debian's redis-server and clickhouse-server with TLS
// only (no plain-text port) and a throwaway CA, then connect with the same
// clients and settings the services use. Each test owns its servers: ports
// come from the OS and t.Cleanup stops the processes.

// clientCase is one way of connecting and what the server must answer.
type clientCase struct {
	name     string
	settings func(p pki) Settings
	wantErr  string // substring of the client's error; "" for success
	// refusedLate marks a refusal of the client's certificate. Under TLS
	// 1.3 the server checks it after the client's handshake has returned,
	// so the client's first write may meet the closed connection (a reset)
	// before it reads the server's alert.
	refusedLate bool
}

var (
	withCA = func(p pki) Settings { return Settings{Enabled: true, CAFile: p.CAFile} }
	mutual = func(p pki) Settings {
		return Settings{Enabled: true, CAFile: p.CAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey}
	}
	wrongCA = func(p pki) Settings {
		return Settings{Enabled: true, CAFile: p.OtherCAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey}
	}
	stranger = func(p pki) Settings {
		return Settings{Enabled: true, CAFile: p.CAFile, CertFile: p.StrangerCert, KeyFile: p.StrangerKey}
	}
	byName = func(p pki) Settings {
		return Settings{Enabled: true, CAFile: p.CAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey, ServerName: ServerName}
	}
)

// Cases for a server that requires a client certificate.
var mutualCases = []clientCase{
	{"client certificate", mutual, "", false},
	{"server name override", byName, "", false},
	{"no client certificate", withCA, "certificate required", true},
	{"client certificate from another CA", stranger, "unknown certificate authority", true},
	{"wrong CA for the server", wrongCA, "certificate signed by unknown authority", false},
}

// Cases for a server that does not ask for client certificates.
var oneWayCases = []clientCase{
	{"CA only", withCA, "", false},
	{"client certificate is harmless", mutual, "", false},
	{"wrong CA for the server", wrongCA, "certificate signed by unknown authority", false},
}

func TestRedisTLS(t *testing.T) {
	out, err := exec.Command("redis-server", "--version").Output()
	if err != nil {
		t.Fatalf("redis-server --version: %v (install Debian's redis-server)", err)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
	// The server certificate names 127.0.0.1 and ServerName, nothing else.
	p := newPKI(t, "127.0.0.1")
	for _, tc := range []struct {
		authClients string
		cases       []clientCase
	}{{"yes", mutualCases}, {"no", oneWayCases}} {
		t.Run("tls-auth-clients="+tc.authClients, func(t *testing.T) {
			port := freePort(t)
			dir := t.TempDir()
			start(t, dir, 30*time.Second, redisPing(port, p), "redis-server",
				"--port", "0", "--bind", "127.0.0.1", "--tls-port", fmt.Sprint(port),
				"--tls-cert-file", p.ServerCert, "--tls-key-file", p.ServerKey, "--tls-ca-cert-file", p.CAFile,
				"--tls-auth-clients", tc.authClients, "--tls-protocols", "TLSv1.2 TLSv1.3",
				"--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no")
			for _, c := range tc.cases {
				t.Run(c.name, func(t *testing.T) {
					cfg := config(t, c.settings(p))
					rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), TLSConfig: cfg,
						DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, MaxRetries: -1})
					defer rdb.Close()
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					err := rdb.Set(ctx, "tls:probe", c.name, time.Minute).Err()
					if err == nil {
						var got string
						got, err = rdb.Get(ctx, "tls:probe").Result()
						if err == nil && got != c.name {
							t.Fatalf("GET = %q, want %q", got, c.name)
						}
					}
					checkRefusal(t, "redis", err, c)
				})
			}
		})
	}
}

// redisPing is the readiness probe: a PING over TLS with a client
// certificate, which every server configuration above accepts.
func redisPing(port int, p pki) func(context.Context) error {
	return func(ctx context.Context) error {
		cfg, err := mutual(p).Config()
		if err != nil {
			return err
		}
		rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), TLSConfig: cfg, MaxRetries: -1})
		defer rdb.Close()
		return rdb.Ping(ctx).Err()
	}
}

func TestClickHouseTLS(t *testing.T) {
	p := newPKI(t, "127.0.0.1")
	// Poco's verificationMode: strict asks for a client certificate and
	// fails the handshake without one; none never asks.
	for _, tc := range []struct {
		mode  string
		cases []clientCase
	}{{"strict", mutualCases}, {"none", oneWayCases}} {
		t.Run("verificationMode="+tc.mode, func(t *testing.T) {
			port := freePort(t)
			dir := t.TempDir()
			conf := filepath.Join(dir, "config.xml")
			writeFile(t, conf, clickhouseTLSConfig(dir, port, p, tc.mode))
			writeFile(t, filepath.Join(dir, "users.xml"), clickhouseUsers)
			start(t, dir, 90*time.Second, clickhousePing(port, mutual(p)), "clickhouse-server", "--config-file="+conf)
			for _, c := range tc.cases {
				t.Run(c.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					conn, err := clickhouse.Open(&clickhouse.Options{
						Protocol:    clickhouse.Native,
						Addr:        []string{fmt.Sprintf("127.0.0.1:%d", port)},
						Auth:        clickhouse.Auth{Database: "default", Username: "default"},
						TLS:         config(t, c.settings(p)),
						Compression: &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
						DialTimeout: 5 * time.Second,
						ReadTimeout: 10 * time.Second,
					})
					if err != nil {
						t.Fatal(err)
					}
					defer conn.Close()
					var got uint64
					err = conn.QueryRow(ctx, "SELECT sum(number) FROM numbers(1000)").Scan(&got)
					if err == nil && got != 499500 {
						t.Fatalf("sum = %d, want 499500", got)
					}
					checkRefusal(t, "clickhouse", err, c)
				})
			}
		})
	}
}

func clickhousePing(port int, s Settings) func(context.Context) error {
	return func(ctx context.Context) error {
		cfg, err := s.Config()
		if err != nil {
			return err
		}
		conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{fmt.Sprintf("127.0.0.1:%d", port)}, TLS: cfg,
			Auth: clickhouse.Auth{Database: "default", Username: "default"}, DialTimeout: 2 * time.Second})
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Ping(ctx)
	}
}

// clickhouseTLSConfig is a complete ClickHouse 18.16 configuration with
// only the secure native port: without tcp_port and http_port the server
// opens no plain-text listener, so a passing test cannot have bypassed TLS.
// The rest is event/localstack's configuration, cut to what a test needs.
func clickhouseTLSConfig(dir string, port int, p pki, verificationMode string) string {
	return fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>%[1]s/server.log</log>
        <errorlog>%[1]s/server.err.log</errorlog>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port_secure>%[2]d</tcp_port_secure>
    <openSSL>
        <server>
            <certificateFile>%[3]s</certificateFile>
            <privateKeyFile>%[4]s</privateKeyFile>
            <caConfig>%[5]s</caConfig>
            <verificationMode>%[6]s</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>true</cacheSessions>
            <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>
    <path>%[1]s/data/</path>
    <tmp_path>%[1]s/data/tmp/</tmp_path>
    <user_files_path>%[1]s/data/user_files/</user_files_path>
    <format_schema_path>%[1]s/data/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <max_connections>64</max_connections>
    <mark_cache_size>536870912</mark_cache_size>
    <mlock_executable>false</mlock_executable>
</yandex>
`, dir, port, p.ServerCert, p.ServerKey, p.CAFile, verificationMode)
}

const clickhouseUsers = `<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>1000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`

func checkRefusal(t *testing.T, side string, err error, c clientCase) {
	t.Helper()
	if c.refusedLate && err != nil {
		for _, late := range []string{"connection reset by peer", "broken pipe"} {
			if strings.Contains(err.Error(), late) {
				t.Logf("%s: refused before the alert was read: %v", side, err)
				return
			}
		}
	}
	checkErr(t, side, err, c.wantErr)
}

func config(t *testing.T, s Settings) *tls.Config {
	t.Helper()
	if err := s.Validate("TALLY_TEST"); err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// freePort asks the OS for a free loopback port. Another process may take
// it before the server binds; start then fails with the server's log.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// start runs argv in its own process group with output in dir/out.log,
// waits until ready answers nil, and stops the group when the test ends.
func start(t *testing.T, dir string, timeout time.Duration, ready func(context.Context) error, argv ...string) {
	t.Helper()
	logPath := filepath.Join(dir, "out.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", argv[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		// The exit status after SIGTERM says nothing about the test.
		var werr error
		select {
		case werr = <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			werr = <-exited
		}
		t.Logf("%s stopped: %v", argv[0], werr)
	})

	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case werr := <-exited:
			exited <- werr // for the cleanup
			t.Fatalf("%s exited before it was ready (%v); its output:\n%s", argv[0], werr, logTail(dir))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s: %v; its output:\n%s", argv[0], timeout, err, logTail(dir))
		}
	}
}

// logTail is the end of every log file a server wrote under dir.
func logTail(dir string) string {
	var b strings.Builder
	paths, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "== %s\n%s\n", path, strings.Join(lines[max(0, len(lines)-20):], "\n"))
	}
	return b.String()
}
