package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
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

// TLSFiles are PEM files made for one test: a CA, a server certificate it signed for
// 127.0.0.1, ::1 and "localhost", and a client certificate it signed.
type TLSFiles struct {
	CAFile, CertFile, KeyFile     string
	ClientCertFile, ClientKeyFile string
	ca                            *x509.CertPool
	client                        tls.Certificate
}

// NewTLSFiles makes a fresh CA and certificates in a temporary directory of t.
func NewTLSFiles(t testing.TB) *TLSFiles {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Helper()
			t.Fatalf("redistest: making TLS files: %v", err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	caTpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	must(err)
	ca, err := x509.ParseCertificate(caDER)
	must(err)

	f := &TLSFiles{CAFile: filepath.Join(dir, "ca.crt"), ca: x509.NewCertPool()}
	f.ca.AddCert(ca)
	must(writePEM(f.CAFile, "CERTIFICATE", caDER))
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		tpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		}
		der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
		must(err)
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		must(err)
		certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		must(writePEM(certFile, "CERTIFICATE", der))
		must(writePEM(keyFile, "PRIVATE KEY", keyDER))
		return certFile, keyFile
	}
	f.CertFile, f.KeyFile = leaf(2, "server", x509.ExtKeyUsageServerAuth)
	f.ClientCertFile, f.ClientKeyFile = leaf(3, "client", x509.ExtKeyUsageClientAuth)
	f.client, err = tls.LoadX509KeyPair(f.ClientCertFile, f.ClientKeyFile)
	must(err)
	return f
}

// ClientConfig trusts the CA and presents the client certificate.
func (f *TLSFiles) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: f.ca, Certificates: []tls.Certificate{f.client}, MinVersion: tls.VersionTLS12}
}

func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}
