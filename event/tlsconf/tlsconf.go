// Package tlsconf builds the client side of a TLS connection to one of
// Tally's dependencies (Redis, ClickHouse) from a handful of environment
// settings, so every service encrypts and authenticates those connections
// the same way.
//
// Invariants:
//   - Disabled settings give a nil *tls.Config: the client dials in plain
//     text, exactly as before TLS existed.
//   - The server is always verified: against the CA file when one is set
//     (a private CA, as Kubernetes and cert-manager issue), otherwise against
//     the system pool. There is deliberately no "skip verification" switch;
//     a test CA is cheap (see the tests).
//   - A client certificate is optional, but its certificate and key come as
//     a pair: one without the other is a configuration error.
//   - Every file is read and parsed by Validate, at startup, so a missing
//     mount or a bad PEM stops the service with the variable's name instead
//     of failing the first connection minutes later. Files are read once:
//     rotating a certificate means restarting the pods (the chart's
//     existing Secret is mounted; a rollout picks up the new one).
//   - TLS 1.2 is the floor: every supported Redis (6+) and ClickHouse
//     (18.16 linked against OpenSSL 1.1+) speaks it.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Settings are one dependency's TLS settings. Services embed them with an
// envPrefix, so the variables read TALLY_REDIS_TLS, TALLY_REDIS_TLS_CA_FILE
// and so on (TALLY_CLICKHOUSE_TLS_* for ClickHouse).
type Settings struct {
	// Enabled turns TLS on (<PREFIX>TLS=true).
	Enabled bool `env:"TLS" envDefault:"false"`
	// CAFile is a PEM bundle of the CAs that sign the server's certificate;
	// empty means the system's trusted roots.
	CAFile string `env:"TLS_CA_FILE"`
	// CertFile and KeyFile are the client's PEM certificate and key, for
	// servers that require client certificates (mutual TLS).
	CertFile string `env:"TLS_CERT_FILE"`
	KeyFile  string `env:"TLS_KEY_FILE"`
	// ServerName overrides the name the server's certificate must carry;
	// by default it is the host of the address dialled.
	ServerName string `env:"TLS_SERVER_NAME"`
}

// Validate checks s and reads every file it names. prefix is the variables'
// common prefix (TALLY_REDIS, TALLY_CLICKHOUSE), used to name the culprit.
func (s Settings) Validate(prefix string) error {
	var errs []error
	if !s.Enabled {
		for _, f := range []struct{ name, value string }{
			{"_TLS_CA_FILE", s.CAFile}, {"_TLS_CERT_FILE", s.CertFile},
			{"_TLS_KEY_FILE", s.KeyFile}, {"_TLS_SERVER_NAME", s.ServerName},
		} {
			if f.value != "" {
				errs = append(errs, fmt.Errorf("%s%s is set but %s_TLS is not true", prefix, f.name, prefix))
			}
		}
		return errors.Join(errs...)
	}
	if s.CAFile != "" {
		if _, err := loadCAs(s.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("%s_TLS_CA_FILE: %w", prefix, err))
		}
	}
	switch {
	case s.CertFile == "" && s.KeyFile == "":
	case s.CertFile == "" || s.KeyFile == "":
		errs = append(errs, fmt.Errorf("%s_TLS_CERT_FILE and %s_TLS_KEY_FILE go together: set both for a client certificate, or neither", prefix, prefix))
	default:
		if _, err := loadKeyPair(s.CertFile, s.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("%s_TLS_CERT_FILE/%s_TLS_KEY_FILE: %w", prefix, prefix, err))
		}
	}
	return errors.Join(errs...)
}

// Config returns the client configuration, or nil when TLS is disabled.
// Call it after Validate; its errors are Validate's without the variable
// names.
func (s Settings) Config() (*tls.Config, error) {
	if !s.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName}
	if s.CAFile != "" {
		pool, err := loadCAs(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		cfg.RootCAs = pool
	}
	if s.CertFile != "" || s.KeyFile != "" {
		if s.CertFile == "" || s.KeyFile == "" {
			return nil, errors.New("tls: a client certificate needs both a certificate and a key file")
		}
		pair, err := loadKeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		// Always present the certificate. With Certificates, Go sends it
		// only if it chains to a CA the server names in its request, and
		// otherwise sends none: a server then says "certificate required"
		// where "unknown certificate authority" is the truth.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return cfg, nil
}

func loadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load client certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return pair, nil
}
