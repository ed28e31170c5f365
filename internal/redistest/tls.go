/*
Copyright 2026 The keypool-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

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
	"time"
)

// WithTLS serves TLS only (rediss://), with a certificate for 127.0.0.1
// signed by a private CA made for the test: CAFile is its PEM, which a
// client must trust, since no system store does.
func WithTLS() Option {
	return func(s *Server) {
		s.t.Helper()
		caKey, caDER := newCert(s, "redistest CA", nil, nil, nil)
		ca, err := x509.ParseCertificate(caDER)
		if err != nil {
			s.t.Fatal(err)
		}
		key, der := newCert(s, "redis-server", ca, caKey, []net.IP{net.IPv4(127, 0, 0, 1)})
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			s.t.Fatal(err)
		}
		s.caFile = s.writePEM("ca.pem", "CERTIFICATE", caDER)
		certFile := s.writePEM("server.pem", "CERTIFICATE", der)
		keyFile := s.writePEM("server-key.pem", "EC PRIVATE KEY", keyDER)
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		s.tls = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		s.extra = append(s.extra, "--tls-cert-file", certFile, "--tls-key-file", keyFile,
			"--tls-ca-cert-file", s.caFile, "--tls-auth-clients", "no")
	}
}

// CAFile is the PEM file of the CA that signed the server's certificate
// (WithTLS); "" without TLS.
func (s *Server) CAFile() string { return s.caFile }

// newCert makes a key and a certificate: a CA when parent is nil, else a
// server certificate for ips signed by parent.
func newCert(s *Server, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey,
	ips []net.IP) (*ecdsa.PrivateKey, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  ips,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		s.t.Fatal(err)
	}
	return key, der
}

func (s *Server) writePEM(name, typ string, der []byte) string {
	path := filepath.Join(s.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return path
}
