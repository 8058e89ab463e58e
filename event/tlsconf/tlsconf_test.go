package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// echoServer is a TLS server on loopback that echoes one line per
// connection and reports each connection's server-side handshake error.
type echoServer struct {
	addr    string
	results chan error
}

func startEchoServer(t *testing.T, p pki, clientAuth tls.ClientAuthType, maxVersion uint16) echoServer {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs, err := loadCAs(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   clientAuth,
		ClientCAs:    clientCAs,
		MaxVersion:   maxVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := echoServer{addr: ln.Addr().String(), results: make(chan error, 16)}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			tc := conn.(*tls.Conn)
			_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
			err = tc.Handshake()
			if err == nil {
				_, err = io.CopyN(tc, tc, 5)
			}
			s.results <- err
			_ = tc.Close()
		}
	}()
	return s
}

// roundTrip dials addr with cfg and echoes "ping\n". A TLS 1.3 server
// rejects a missing or unknown client certificate after the client's
// handshake has returned, so the error may surface on the read.
func roundTrip(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return err
	}
	if string(buf) != "ping\n" {
		return errors.New("echo mismatch: " + string(buf))
	}
	return nil
}

func mustConfig(t *testing.T, s Settings) *tls.Config {
	t.Helper()
	if err := s.Validate("TALLY_TEST"); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	cfg, err := s.Config()
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	if cfg == nil {
		t.Fatal("Config is nil with TLS enabled")
	}
	return cfg
}

func TestHandshake(t *testing.T) {
	p := newPKI(t, "127.0.0.1", "localhost")
	oneWay := startEchoServer(t, p, tls.NoClientCert, 0)
	mutual := startEchoServer(t, p, tls.RequireAndVerifyClientCert, 0)
	oldServer := startEchoServer(t, p, tls.NoClientCert, tls.VersionTLS11)
	// A server certificate without 127.0.0.1: reachable only through the
	// server name override.
	named := newPKI(t)
	namedServer := startEchoServer(t, named, tls.NoClientCert, 0)

	tests := []struct {
		name       string
		addr       string
		settings   Settings
		wantErr    string // substring of the client's error; "" for success
		wantServer string // substring of the server's error; "" for success
	}{
		{name: "CA verifies the server", addr: oneWay.addr,
			settings: Settings{Enabled: true, CAFile: p.CAFile}},
		{name: "wrong CA", addr: oneWay.addr,
			settings: Settings{Enabled: true, CAFile: p.OtherCAFile},
			wantErr:  "certificate signed by unknown authority", wantServer: "bad certificate"},
		{name: "system roots do not trust a private CA", addr: oneWay.addr,
			settings: Settings{Enabled: true},
			wantErr:  "certificate signed by unknown authority", wantServer: "bad certificate"},
		{name: "client certificate required and given", addr: mutual.addr,
			settings: Settings{Enabled: true, CAFile: p.CAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey}},
		{name: "client certificate required, none given", addr: mutual.addr,
			settings: Settings{Enabled: true, CAFile: p.CAFile},
			wantErr:  "certificate required", wantServer: "client didn't provide a certificate"},
		{name: "client certificate from another CA", addr: mutual.addr,
			settings: Settings{Enabled: true, CAFile: p.CAFile, CertFile: p.StrangerCert, KeyFile: p.StrangerKey},
			wantErr:  "unknown certificate authority", wantServer: "certificate signed by unknown authority"},
		{name: "server name override", addr: namedServer.addr,
			settings: Settings{Enabled: true, CAFile: named.CAFile, ServerName: ServerName}},
		{name: "address not in the certificate", addr: namedServer.addr,
			settings: Settings{Enabled: true, CAFile: named.CAFile},
			wantErr:  "doesn't contain any IP SANs", wantServer: "bad certificate"},
		{name: "TLS 1.1 is refused", addr: oldServer.addr,
			settings: Settings{Enabled: true, CAFile: p.CAFile},
			wantErr:  "protocol version", wantServer: "unsupported versions"},
	}
	servers := map[string]echoServer{oneWay.addr: oneWay, mutual.addr: mutual, oldServer.addr: oldServer, namedServer.addr: namedServer}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := roundTrip(tt.addr, mustConfig(t, tt.settings))
			checkErr(t, "client", err, tt.wantErr)
			select {
			case serr := <-servers[tt.addr].results:
				checkErr(t, "server", serr, tt.wantServer)
			case <-time.After(10 * time.Second):
				t.Fatal("the server never finished the connection")
			}
		})
	}
}

func checkErr(t *testing.T, side string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: unexpected error: %v", side, err)
	case want != "" && err == nil:
		t.Errorf("%s: no error, want one containing %q", side, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s: error %q does not contain %q", side, err, want)
	}
}

func TestConfigFields(t *testing.T) {
	p := newPKI(t, "127.0.0.1")
	cfg := mustConfig(t, Settings{Enabled: true, CAFile: p.CAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey, ServerName: "redis.internal"})
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", cfg.MinVersion)
	}
	if cfg.ServerName != "redis.internal" {
		t.Errorf("ServerName = %q", cfg.ServerName)
	}
	if cfg.InsecureSkipVerify {
		t.Error("InsecureSkipVerify is set")
	}
	if cfg.RootCAs == nil || cfg.GetClientCertificate == nil {
		t.Fatalf("RootCAs %v, client certificate %t; want a pool and a certificate", cfg.RootCAs, cfg.GetClientCertificate != nil)
	}
	pair, err := cfg.GetClientCertificate(&tls.CertificateRequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || leaf.Subject.CommonName != "tally" {
		t.Errorf("client certificate %v, %v; want CN tally", leaf, err)
	}
	sys := mustConfig(t, Settings{Enabled: true})
	if sys.RootCAs != nil || sys.GetClientCertificate != nil || sys.Certificates != nil {
		t.Error("without files the config must use the system roots and no client certificate")
	}
}

func TestDisabled(t *testing.T) {
	var s Settings
	if err := s.Validate("TALLY_REDIS"); err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Config()
	if cfg != nil || err != nil {
		t.Fatalf("Config() = %v, %v; want nil, nil", cfg, err)
	}
}

func TestValidateReportsBadFiles(t *testing.T) {
	p := newPKI(t, "127.0.0.1")
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "unreadable.crt")
	if err := os.WriteFile(unreadable, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.crt")

	tests := []struct {
		name     string
		settings Settings
		want     []string // substrings of the error, in any order
	}{
		{"missing CA file", Settings{Enabled: true, CAFile: missing},
			[]string{"TALLY_REDIS_TLS_CA_FILE", "no such file"}},
		{"CA file is a directory", Settings{Enabled: true, CAFile: dir},
			[]string{"TALLY_REDIS_TLS_CA_FILE", "is a directory"}},
		{"CA file is not PEM", Settings{Enabled: true, CAFile: notPEM},
			[]string{"TALLY_REDIS_TLS_CA_FILE", "holds no PEM certificate"}},
		{"CA file is a key", Settings{Enabled: true, CAFile: p.ClientKey},
			[]string{"TALLY_REDIS_TLS_CA_FILE", "holds no PEM certificate"}},
		{"certificate without key", Settings{Enabled: true, CertFile: p.ClientCert},
			[]string{"TALLY_REDIS_TLS_CERT_FILE and TALLY_REDIS_TLS_KEY_FILE go together"}},
		{"key without certificate", Settings{Enabled: true, KeyFile: p.ClientKey},
			[]string{"TALLY_REDIS_TLS_CERT_FILE and TALLY_REDIS_TLS_KEY_FILE go together"}},
		{"key of another certificate", Settings{Enabled: true, CertFile: p.ClientCert, KeyFile: p.StrangerKey},
			[]string{"TALLY_REDIS_TLS_CERT_FILE/TALLY_REDIS_TLS_KEY_FILE", "private key does not match public key"}},
		{"missing key", Settings{Enabled: true, CertFile: p.ClientCert, KeyFile: missing},
			[]string{"TALLY_REDIS_TLS_KEY_FILE", "no such file"}},
		{"certificate is not PEM", Settings{Enabled: true, CertFile: notPEM, KeyFile: p.ClientKey},
			[]string{"TALLY_REDIS_TLS_CERT_FILE", "failed to find any PEM data"}},
		{"every problem at once", Settings{Enabled: true, CAFile: missing, CertFile: p.ClientCert},
			[]string{"TALLY_REDIS_TLS_CA_FILE", "go together"}},
		{"files without TLS", Settings{CAFile: p.CAFile, ServerName: "x"},
			[]string{"TALLY_REDIS_TLS_CA_FILE is set but TALLY_REDIS_TLS is not true",
				"TALLY_REDIS_TLS_SERVER_NAME is set but TALLY_REDIS_TLS is not true"}},
	}
	if os.Geteuid() != 0 { // root reads any file
		tests = append(tests, struct {
			name     string
			settings Settings
			want     []string
		}{"unreadable CA file", Settings{Enabled: true, CAFile: unreadable}, []string{"TALLY_REDIS_TLS_CA_FILE", "permission denied"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.settings.Validate("TALLY_REDIS")
			if err == nil {
				t.Fatal("Validate accepted bad settings")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			// Config fails on the same settings (when enabled), so a caller
			// that skipped Validate still never dials with half a config.
			if tt.settings.Enabled {
				if cfg, err := tt.settings.Config(); err == nil {
					t.Errorf("Config() = %v, nil; want an error", cfg)
				}
			}
		})
	}
}
