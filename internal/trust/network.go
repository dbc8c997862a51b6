package trust

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/pki"
)

// Options tune VerifyNetwork.
type Options struct {
	// Roots pins the network's root CA(s). Without them the first request
	// (the trust bundle) is made without verifying the server, and the
	// bundle's roots are trusted on first use.
	Roots []*x509.Certificate
	// RootFingerprints, if set, keeps only the bundle roots with these
	// SHA-256 fingerprints (pki.FingerprintSHA256): the roots an enrollment
	// JWT names.
	RootFingerprints []string
	// Timeout bounds each request; default 15 s.
	Timeout time.Duration
}

// Report is what VerifyNetwork found. Err fields are nil for checks that
// passed.
type Report struct {
	// ClientAPI is the Edge Client API base that was asked.
	ClientAPI string
	// Bundle is the trust bundle; Roots its root CAs.
	Bundle []*x509.Certificate
	Roots  []*x509.Certificate
	// Pinned says the roots were given by the caller, not trusted on first
	// use.
	Pinned bool
	// BundleErr: the bundle lacks a pinned root.
	BundleErr   error
	NetworkJWTs []JWTCheck
	Controllers []ControllerCheck
	Keys        []KeyCheck
}

// JWTCheck is the verification of one network JWT.
type JWTCheck struct {
	Name   string
	KeyID  string
	Claims *NetworkClaims
	Err    error
}

// ControllerCheck is one controller URL from the network JWTs, asked for
// its version over TLS verified against the network's roots.
type ControllerCheck struct {
	URL string
	Err error
}

// KeyCheck is one JWKS key: refused by ParseJWKS, or challenged.
type KeyCheck struct {
	KeyID     string
	Algorithm string
	// Subject is the common name of the key's certificate.
	Subject string
	Err     error
}

// Failed counts the checks that failed.
func (r *Report) Failed() int {
	n := 0
	if r.BundleErr != nil {
		n++
	}
	for _, c := range r.NetworkJWTs {
		if c.Err != nil {
			n++
		}
	}
	for _, c := range r.Controllers {
		if c.Err != nil {
			n++
		}
	}
	for _, c := range r.Keys {
		if c.Err != nil {
			n++
		}
	}
	return n
}

// ClientAPIURL turns what a user gives ("host:port", "https://host:port",
// or a URL ending in the client API's base path) into the client API base.
func ClientAPIURL(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("controller URL %q: %w", raw, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("controller URL %q: want https://host:port", raw)
	}
	return "https://" + u.Host + ClientBase, nil
}

// VerifyNetwork runs every check a client can make of a network from one
// URL before trusting it: it fetches the trust bundle, then over TLS
// verified against the bundle's roots the JWKS (each key must chain to
// them), the network JWTs (each must verify with a JWKS key), and for
// every key a challenge with a fresh nonce through the same URL, which the
// node there forwards to the member holding the key. Finally it asks every
// controller URL the network JWTs list for its version. Failures of single
// checks are in the report; an error means the checks could not start.
func VerifyNetwork(ctx context.Context, rawURL string, opts Options) (*Report, error) {
	api, err := ClientAPIURL(rawURL)
	if err != nil {
		return nil, err
	}
	rep := &Report{ClientAPI: api, Pinned: len(opts.Roots) > 0}
	n, err := openNetwork(ctx, api, opts)
	if n != nil {
		rep.Bundle, rep.Roots, rep.BundleErr = n.bundle, n.roots, n.bundleErr
		for _, kerr := range n.badKeys {
			rep.Keys = append(rep.Keys, KeyCheck{KeyID: kerr.KeyID, Err: kerr.Err})
		}
	}
	if err != nil {
		return rep, err
	}
	verified, keys := n.client, n.keys

	ctrls := map[string]bool{}
	body, err := get(ctx, verified, api+"/network-jwts")
	if err != nil {
		return rep, fmt.Errorf("fetch the network JWTs: %w", err)
	}
	var list struct {
		Data []struct {
			Name  string `json:"name"`
			Token string `json:"token"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return rep, fmt.Errorf("network JWTs: %w", err)
	}
	if len(list.Data) == 0 {
		rep.NetworkJWTs = append(rep.NetworkJWTs, JWTCheck{Err: errors.New("the network lists no network JWT")})
	}
	for _, item := range list.Data {
		claims, k, err := VerifyNetworkJWT(item.Token, keys)
		check := JWTCheck{Name: item.Name, Claims: claims, Err: err}
		if k != nil {
			check.KeyID = k.KeyID
		}
		if err == nil {
			for _, c := range claims.Controllers {
				ctrls[c] = true
			}
		}
		rep.NetworkJWTs = append(rep.NetworkJWTs, check)
	}

	for _, kid := range sortedKeys(keys) {
		k := keys[kid]
		rep.Keys = append(rep.Keys, KeyCheck{KeyID: kid, Algorithm: k.Algorithm, Subject: k.Chain[0].Subject.CommonName,
			Err: challenge(ctx, verified, api, keys, kid)})
	}
	for _, c := range sortedKeys(ctrls) {
		_, err := get(ctx, verified, strings.TrimRight(c, "/")+"/version")
		rep.Controllers = append(rep.Controllers, ControllerCheck{URL: c, Err: err})
	}
	return rep, nil
}

// network is what a client learns from a controller before trusting it:
// the trust bundle, the roots in force, an HTTPS client verifying them, and
// the JWKS keys that chain to them.
type network struct {
	bundle, roots, inters []*x509.Certificate
	// bundleErr: the bundle lacks a pinned root.
	bundleErr error
	client    *http.Client
	keys      KeySet
	badKeys   []*KeyError
}

// openNetwork fetches the trust bundle from api — the one request made
// without verifying the server unless opts.Roots pins the roots: there is
// nothing to verify with yet. Without a pin (opts.Roots, or the roots an
// enrollment JWT names in opts.RootFingerprints) an impostor in the middle
// can serve a root of its own, even with the network's real public keys
// certified under it and challenges relayed to the real network; only the
// root fingerprint, which the caller shows, gives it away. Then it fetches
// the JWKS over TLS verified against the roots in force and keeps the keys
// that chain to them, through the bundle's intermediates.
func openNetwork(ctx context.Context, api string, opts Options) (*network, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 15 * time.Second
	}
	n := &network{}
	first := newHTTPClient(opts.Roots, opts.Timeout)
	body, err := get(ctx, first, api+"/.well-known/est/cacerts")
	if err != nil {
		return n, fmt.Errorf("fetch the trust bundle: %w", err)
	}
	if n.bundle, err = ParseBundle(body); err != nil {
		return n, err
	}
	n.roots, n.inters = SplitBundle(n.bundle)
	if len(opts.Roots) > 0 {
		n.bundleErr = containsAll(n.roots, opts.Roots)
		n.roots = opts.Roots
	}
	if len(opts.RootFingerprints) > 0 {
		n.roots = slices.DeleteFunc(n.roots, func(c *x509.Certificate) bool {
			return !slices.Contains(opts.RootFingerprints, pki.FingerprintSHA256(c))
		})
		if len(n.roots) == 0 {
			return n, errors.New("the trust bundle's root is not the root the enrollment JWT names: this is not the network that issued the JWT")
		}
	}
	if len(n.roots) == 0 {
		return n, errors.New("the trust bundle holds no root certificate")
	}
	n.client = newHTTPClient(n.roots, opts.Timeout)
	body, err = get(ctx, n.client, api+"/enroll/jwks")
	if err != nil {
		return n, fmt.Errorf("fetch the JWKS: %w", err)
	}
	n.keys, n.badKeys, err = ParseJWKS(body, append(append([]*x509.Certificate(nil), n.roots...), n.inters...))
	if err != nil {
		return n, err
	}
	return n, nil
}

// challenge asks the node at api to have kid's holder sign a fresh nonce.
func challenge(ctx context.Context, c *http.Client, api string, keys KeySet, kid string) error {
	nonce := uuid.NewString()
	reqBody, _ := json.Marshal(NonceChallenge{Nonce: nonce, KeyID: kid})
	body, err := do(ctx, c, http.MethodPost, api+"/enroll/challenge", reqBody)
	if err != nil {
		return err
	}
	var ans NonceSignature
	if err := json.Unmarshal(body, &ans); err != nil {
		return fmt.Errorf("challenge answer: %w", err)
	}
	_, err = VerifyChallenge(ans, nonce, kid, keys)
	return err
}

// containsAll reports which of want the bundle's roots lack.
func containsAll(have, want []*x509.Certificate) error {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || bytes.Equal(h.Raw, w.Raw)
		}
		if !found {
			return fmt.Errorf("the trust bundle lacks the pinned root %q (%s)", w.Subject.CommonName, pki.Fingerprint(w))
		}
	}
	return nil
}

func newHTTPClient(roots []*x509.Certificate, timeout time.Duration) *http.Client {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(roots) > 0 {
		tc.RootCAs = pki.NewCertPool(roots...)
	} else {
		tc.InsecureSkipVerify = true //nolint:gosec // trust on first use: see VerifyNetwork
	}
	tr := &http.Transport{TLSClientConfig: tc, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	return &http.Client{Transport: tr, Timeout: timeout}
}

func get(ctx context.Context, c *http.Client, u string) ([]byte, error) {
	return do(ctx, c, http.MethodGet, u, nil)
}

// maxAnswer bounds an answer the client reads.
const maxAnswer = 8 << 20

func do(ctx context.Context, c *http.Client, method, u string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode != http.StatusOK {
		var env struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &env) == nil && env.Error.Code != "" {
			return nil, fmt.Errorf("%s %s: HTTP %d %s: %s", method, u, resp.StatusCode, env.Error.Code, env.Error.Message)
		}
		return nil, fmt.Errorf("%s %s: HTTP %d", method, u, resp.StatusCode)
	}
	return data, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
