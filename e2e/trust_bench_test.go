package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/internal/benchkit"
	"github.com/garrison-ctrl/garrison/internal/trust"
)

// keepAliveClient is an HTTPS client trusting the cluster CA that keeps
// connections open, so after warm-up no TLS handshake is in the path.
func keepAliveClient(t *testing.T, c *Cluster, certs ...tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(c.caFile)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("read CA: %v", err)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, Certificates: certs},
		MaxIdleConnsPerHost: 16,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

// timed sends req and reads the whole answer, returning its latency and
// body; an answer other than 200 is an error naming what.
func timed(client *http.Client, req *http.Request, what string) (time.Duration, []byte, error) {
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, nil, fmt.Errorf("%s: %d %s", what, resp.StatusCode, raw)
	}
	return d, raw, nil
}

// timedPost is timed for a JSON POST.
func timedPost(client *http.Client, url string, body []byte, what string) (time.Duration, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return timed(client, req, what)
}

// BenchmarkChallenge measures nonce challenge round trips through HAProxy:
// eight keep-alive clients POST /enroll/challenge with a fresh nonce for
// the three members' keys in turn, so about two in three are forwarded by
// the node HAProxy picked to the member holding the key over the cluster
// link. Each answer's signature is verified by the client, outside the
// measured time.
//
//	GARRISON_BIN=$PWD/bin/garrison go test -run '^$' -bench BenchmarkChallenge -benchtime 10s -timeout 30m ./e2e/
func BenchmarkChallenge(b *testing.B) {
	skipShortBench(b)
	benchkit.AsTest(b, func(t *testing.T) {
		c := newCluster(t, clusterOptions{})
		keys := networkKeys(t, c, c.LBURL)
		kids := make([]string, 0, len(keys))
		for kid := range keys {
			kids = append(kids, kid)
		}
		sort.Strings(kids)
		client := keepAliveClient(t, c)
		url := c.LBURL + "/edge/client/v1/enroll/challenge"
		b.Run("through=haproxy", func(b *testing.B) {
			res := benchkit.Run(b, 8, func(k int64) (time.Duration, error) {
				kid := kids[k%int64(len(kids))]
				nonce := uuid.NewString()
				body, _ := json.Marshal(trust.NonceChallenge{Nonce: nonce, KeyID: kid})
				d, raw, err := timedPost(client, url, body, "challenge")
				if err != nil {
					return 0, err
				}
				var ans trust.NonceSignature
				if err := json.Unmarshal(raw, &ans); err != nil {
					return 0, err
				}
				if _, err := trust.VerifyChallenge(ans, nonce, kid, keys); err != nil {
					return 0, err
				}
				return d, nil
			})
			if res.Err != nil {
				b.Errorf("%d of %d challenges failed; first: %v", res.Failed, b.N, res.Err)
				return
			}
			res.Report(b, "challenges/s")
		})
	})
}
