package e2e

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/internal/benchkit"
)

// BenchmarkOTTEnrollment measures one-time-token enrollments through
// HAProxy: eight concurrent clients each POST a CSR to /enroll/ott with a
// token minted beforehand (the identity create with {ott: true} and the CSR
// generation are setup, not timed). One enrollment is a read of the token,
// an ECDSA signature by the node's intermediate, and one Raft command that
// deletes the enrollment and creates the cert authenticator.
//
//	GARRISON_BIN=$PWD/bin/garrison go test -run '^$' -bench BenchmarkOTTEnrollment -benchtime 400x -timeout 30m ./e2e/
func BenchmarkOTTEnrollment(b *testing.B) {
	skipShortBench(b)
	benchkit.AsTest(b, func(t *testing.T) {
		c := newCluster(t, clusterOptions{})
		admin := c.Login(c.LBURL)
		seq := 0
		b.Run("through=haproxy", func(b *testing.B) {
			tokens, csrs, _ := mintEnrollments(t, c, admin, b.N, &seq)
			client := c.http
			url := c.LBURL + "/edge/client/v1/enroll/ott"
			res := benchkit.Run(b, 8, func(k int64) (time.Duration, error) {
				body, _ := json.Marshal(map[string]string{"token": tokens[k], "clientCsr": csrs[k]})
				d, _, err := timedPost(client, url, body, "enroll")
				return d, err
			})
			if res.Err != nil {
				b.Errorf("%d of %d enrollments failed; first: %v", res.Failed, b.N, res.Err)
				return
			}
			res.Report(b, "enrollments/s")
		})
	})
}

// mintEnrollments creates n identities with ott enrollments (8 at a time)
// and returns their tokens and a fresh CSR and its key for each.
func mintEnrollments(t *testing.T, c *Cluster, admin string, n int, seq *int) ([]string, []string, []*ecdsa.PrivateKey) {
	tokens, csrs, keys := make([]string, n), make([]string, n), make([]*ecdsa.PrivateKey, n)
	base := *seq
	*seq += n
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			name := fmt.Sprintf("bench-enroll-%d", base+i)
			r := c.do("POST", c.LBURL+"/edge/management/v1/identities", admin,
				map[string]any{"name": name, "type": "Device", "isAdmin": false, "enrollment": map[string]any{"ott": true}}, false)
			if r.Status != http.StatusCreated {
				t.Errorf("create %s: %d %v", name, r.Status, r.Body)
				return
			}
			id, _ := dig(r.Body, "data", "id").(string)
			// Reads are linearizable: whichever node HAProxy picks has it.
			g := c.do("GET", c.LBURL+"/edge/management/v1/identities/"+id, admin, nil, false)
			if tokens[i], _ = dig(g.Body, "data", "enrollment", "ott", "token").(string); tokens[i] == "" {
				t.Errorf("no ott token for %s right after creating it: %d %v", name, g.Status, g.Body)
				return
			}
			csrs[i], keys[i] = newCSR(t, name)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return tokens, csrs, keys
}

// BenchmarkCertAuthentication measures certificate logins through HAProxy
// (TCP pass-through, so the node sees the client certificate): eight
// identities, enrolled beforehand, each log in over their own keep-alive
// connection with POST /authenticate?method=cert. A login is a chain
// verification against the trust bundle, a fingerprint lookup and one Raft
// command creating the API session.
//
//	GARRISON_BIN=$PWD/bin/garrison go test -run '^$' -bench BenchmarkCertAuthentication -benchtime 10s -timeout 30m ./e2e/
func BenchmarkCertAuthentication(b *testing.B) {
	skipShortBench(b)
	benchkit.AsTest(b, func(t *testing.T) {
		c := newCluster(t, clusterOptions{})
		admin := c.Login(c.LBURL)
		seq := 0
		const workers = 8
		tokens, csrs, keys := mintEnrollments(t, c, admin, workers, &seq)
		clients := make([]*http.Client, workers)
		for i := range clients {
			r := c.do("POST", c.LBURL+"/edge/client/v1/enroll/ott", "", map[string]any{"token": tokens[i], "clientCsr": csrs[i]}, false)
			if r.Status != http.StatusOK {
				t.Fatalf("enroll: %d %v", r.Status, r.Body)
			}
			clients[i] = keepAliveClient(t, c, tlsCert(t, dig(r.Body, "data", "cert").(string), keys[i]))
		}
		url := c.LBURL + "/edge/client/v1/authenticate?method=cert"
		b.Run("through=haproxy", func(b *testing.B) {
			res := benchkit.Run(b, workers, func(k int64) (time.Duration, error) {
				client := clients[k%workers]
				d, _, err := timedPost(client, url, []byte("{}"), "cert login")
				return d, err
			})
			if res.Err != nil {
				b.Errorf("%d of %d logins failed; first: %v", res.Failed, b.N, res.Err)
				return
			}
			res.Report(b, "logins/s")
		})
	})
}
