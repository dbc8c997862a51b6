package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/internal/trust"
	"github.com/garrison-ctrl/garrison/pki"
)

// The checks themselves run against a real node in rest (TestVerifyNetwork,
// TestTrustIncludesOfflineMembers); here: the report and the exit status.

func TestPrintNetworkReport(t *testing.T) {
	root, err := pki.NewRootCA("Report Root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rep := &trust.Report{
		ClientAPI: "https://lb:1280/edge/client/v1", Bundle: []*x509.Certificate{root.Cert}, Roots: []*x509.Certificate{root.Cert},
		NetworkJWTs: []trust.JWTCheck{{Name: "default", KeyID: "k1", Claims: &trust.NetworkClaims{}}},
		Controllers: []trust.ControllerCheck{{URL: "https://c1"}, {URL: "https://c2", Err: errors.New("connection refused")}},
		Keys:        []trust.KeyCheck{{KeyID: "k1", Algorithm: "ES256"}, {KeyID: "k2", Err: errors.New("HTTP 503")}},
	}
	var out bytes.Buffer
	printNetworkReport(&out, rep)
	text := out.String()
	for _, want := range []string{
		"trusted on first use", "ok   https://c1", "FAIL https://c2: connection refused", "ok   k1 (ES256", "FAIL k2: HTTP 503", `ok   "default" signed by key k1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if !regexp.MustCompile(`SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}\n`).MatchString(text) {
		t.Errorf("no openssl-style SHA-256 fingerprint:\n%s", text)
	}
	if rep.Failed() != 2 {
		t.Errorf("Failed() = %d, want 2", rep.Failed())
	}
}

func TestVerifyNetworkCommandFails(t *testing.T) {
	// A TLS server that is not a controller: the command must fail.
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	for _, args := range [][]string{
		{"edge", "verify-network", ts.URL},
		{"edge", "verify-network", ts.URL, "--ca", "/nonexistent/ca.pem"},
		{"edge", "verify-network", "http://plain.example"},
	} {
		root := newRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		if err := root.Execute(); err == nil {
			t.Errorf("%v succeeded:\n%s", args, out.String())
		}
	}
}
