package rest

import (
	"crypto/x509"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// FuzzCertificateFields feeds arbitrary text to the certificate fields of
// the session certificate and extension handlers, beyond what pki's own
// fuzz targets cover: the mapping to API errors and the identity the
// signed certificate names. A CSR field is either signed (leaf first in
// the chain, signed by the node's issuer, for the identity, short-lived)
// or refused with 400 COULD_NOT_PROCESS_CSR, never a 500; an extend-verify
// certificate matches only when it is the pending certificate.
// It runs without the shared cluster, on an empty store of its own.
func FuzzCertificateFields(f *testing.F) {
	p, err := newTestPKI()
	if err != nil {
		f.Fatal(err)
	}
	store, err := fsm.Open(filepath.Join(f.TempDir(), "state.db"), quietLog())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = store.Close() })
	srv := New(Config{Issuer: p.inter, Log: quietLog(), Store: store, CACerts: []*x509.Certificate{p.root.Cert}})
	good, _ := newCSR(f, "fuzz-seed")
	f.Add(good)
	for _, c := range badCSRs(f) {
		f.Add(c)
	}
	sc, aerr := srv.signClientCSR("csr", good, "seed", 0)
	if aerr != nil {
		f.Fatal(aerr)
	}
	pending, pendingPEM := sc.cert, sc.chainPEM
	pendingFP := pki.Fingerprint(pending)
	f.Add(pendingPEM)
	f.Add(string(pki.EncodeCertificatesPEM(pending)))
	f.Add(string(pki.EncodeCertificatesPEM(p.inter.Cert, pending)))

	f.Fuzz(func(t *testing.T, field string) {
		sc, aerr := srv.signClientCSR("csr", field, "fuzz-identity", pki.DefaultSessionCertValidity)
		if aerr != nil {
			if aerr.Status != http.StatusBadRequest || aerr.Code != api.CodeCouldNotProcessCSR || aerr.Cause == nil || aerr.Cause.Field != "csr" {
				t.Fatalf("CSR refused with %d %s (%v), want 400 %s naming csr", aerr.Status, aerr.Code, aerr, api.CodeCouldNotProcessCSR)
			}
		} else {
			cert, chainPEM := sc.cert, sc.chainPEM
			chain, err := pki.ParseCertificatesPEM([]byte(chainPEM))
			if err != nil || !chain[0].Equal(cert) {
				t.Fatalf("issued chain does not start with the certificate: %v", err)
			}
			if err := cert.CheckSignatureFrom(p.inter.Cert); err != nil || cert.IsCA {
				t.Fatalf("issued certificate: CA %v, signature %v", cert.IsCA, err)
			}
			if cert.NotAfter.After(time.Now().Add(pki.DefaultSessionCertValidity)) {
				t.Fatalf("session certificate valid until %s", cert.NotAfter)
			}
			if id, ok := pki.IdentityIDFromCert(cert, ""); !ok || id != "fuzz-identity" {
				t.Fatalf("issued certificate names identity %q (%v)", id, ok)
			}
		}
		if aerr := checkPendingCert(field, pendingFP); aerr == nil {
			certs, err := pki.ParseCertificatesPEM([]byte(field))
			if err != nil || pki.Fingerprint(certs[0]) != pendingFP {
				t.Fatalf("accepted a certificate other than the pending one: %v", err)
			}
		} else if aerr.Status != http.StatusBadRequest || aerr.Code != api.CodeInvalidClientCert {
			t.Fatalf("certificate refused with %d %s, want 400 %s", aerr.Status, aerr.Code, api.CodeInvalidClientCert)
		}
	})
}
