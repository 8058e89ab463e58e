package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// pki is a throwaway certificate authority and the files a test hands to
// servers and clients, all under one temporary directory.
type pki struct {
	Dir string
	// CAFile signed the server and client certificates; OtherCAFile signed
	// nothing here (the "wrong CA").
	CAFile, OtherCAFile   string
	ServerCert, ServerKey string // for localhost, 127.0.0.1 and ServerName
	ClientCert, ClientKey string
	// StrangerCert and StrangerKey are a client certificate from the other
	// CA, which a server trusting CAFile must refuse.
	StrangerCert, StrangerKey string
}

// ServerName is the extra DNS name in the server certificate: dialling an
// address that is not in it works only with a server name override.
const ServerName = "tally-deps.test"

type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newPKI writes a fresh CA, a server certificate for serverHosts (plus
// ServerName) and client certificates under t.TempDir().
func newPKI(t testing.TB, serverHosts ...string) pki {
	t.Helper()
	dir := t.TempDir()
	p := pki{Dir: dir}
	ca := newAuthority(t, "tally test CA")
	other := newAuthority(t, "some other CA")
	p.CAFile = writePEM(t, dir, "ca.crt", "CERTIFICATE", ca.cert.Raw)
	p.OtherCAFile = writePEM(t, dir, "other-ca.crt", "CERTIFICATE", other.cert.Raw)

	server := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "tally test server"},
		DNSNames:    []string{ServerName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range serverHosts {
		if ip := net.ParseIP(h); ip != nil {
			server.IPAddresses = append(server.IPAddresses, ip)
		} else {
			server.DNSNames = append(server.DNSNames, h)
		}
	}
	p.ServerCert, p.ServerKey = ca.issue(t, dir, "server", server)
	p.ClientCert, p.ClientKey = ca.issue(t, dir, "client", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "tally"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	p.StrangerCert, p.StrangerKey = other.issue(t, dir, "stranger", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "stranger"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return p
}

func newAuthority(t testing.TB, name string) authority {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return authority{cert: cert, key: key}
}

// issue signs tmpl (a leaf) and writes <name>.crt and <name>.key.
func (a authority) issue(t testing.TB, dir, name string, tmpl *x509.Certificate) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	tmpl.SerialNumber = serial(t)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name+".crt", "CERTIFICATE", der), writePEM(t, dir, name+".key", "PRIVATE KEY", keyDER)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
