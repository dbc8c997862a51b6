package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/garrison-ctrl/garrison/internal/benchkit"
	"github.com/garrison-ctrl/garrison/internal/edge"
)

// BenchmarkLeaderFailover measures how long writes through HAProxy stop
// when the Raft leader is killed with SIGKILL. Each iteration finds the
// leader, runs four writers that log in through HAProxy in a loop (a login
// creates an API session: a replicated write), kills the leader and measures
// from the kill to the completion of the first successful write that started
// after the kill (a write begun before it may have been committed by the old
// leader, so it proves nothing). The killed node is then restarted and the
// cluster waited on until healthy, outside the timer, so ns/op is roughly
// the recovery time. Run it with a fixed count:
//
//	go build -o bin/garrison ./cmd/garrison
//	GARRISON_BIN=$PWD/bin/garrison go test -run '^$' -bench BenchmarkLeaderFailover -benchtime 5x -timeout 30m ./e2e/
//
// The recovery includes one whole login (argon2id verification and the
// write) after the cluster is writable again.
func BenchmarkLeaderFailover(b *testing.B) {
	skipShortBench(b)
	benchkit.AsTest(b, func(t *testing.T) {
		c := newCluster(t, clusterOptions{})
		admin := c.Login(c.LBURL)
		var recoveries []time.Duration
		failures := map[int]int{}
		for b.Loop() {
			b.StopTimer()
			leader := c.Leader(admin)
			w := startLoginWriters(c, 4)
			// Writes flow before the kill.
			c.eventually(30*time.Second, "writes before the kill", func() error {
				if w.successes.Load() < 8 {
					return fmt.Errorf("%d successful writes so far", w.successes.Load())
				}
				return nil
			})
			b.StartTimer()
			w.kill(leader)
			select {
			case <-w.recovered:
			case <-time.After(60 * time.Second):
				w.stop()
				t.Fatalf("no successful write within 60s of killing leader %s", leader.Name)
			}
			b.StopTimer()
			w.stop()
			rec := w.firstAfterKill.Sub(w.killedAt)
			recoveries = append(recoveries, rec)
			for st, n := range w.failures {
				failures[st] += n
			}
			b.Logf("round %d: killed leader %s; first write begun after the kill succeeded %s later; failed writes by status %v",
				len(recoveries), leader.Name, rec.Round(time.Millisecond), w.failures)
			for st := range w.failures {
				if st >= 500 && st != http.StatusServiceUnavailable {
					t.Errorf("a write failed with %d: only 503 (or a dropped connection, 0) is acceptable during failover", st)
				}
			}
			leader.Start()
			c.waitHealthy(60 * time.Second)
			b.StartTimer()
		}
		if len(recoveries) == 0 {
			return
		}
		slices.Sort(recoveries)
		b.ReportMetric(benchkit.Millis(benchkit.Percentile(recoveries, 50)), "recovery-p50-ms")
		b.ReportMetric(benchkit.Millis(recoveries[len(recoveries)-1]), "recovery-max-ms")
		b.Logf("recoveries (sorted): %v; failed writes by status over all rounds: %v", benchRound(recoveries), failures)
	})
}

// loginWriters keep logging in through HAProxy until stopped.
type loginWriters struct {
	c         *Cluster
	successes atomic.Int64
	stopCh    chan struct{}
	wg        sync.WaitGroup
	recovered chan struct{} // closed at the first success begun after the kill

	mu             sync.Mutex
	killedAt       time.Time
	firstAfterKill time.Time
	failures       map[int]int // status (0: no answer) -> count
}

func startLoginWriters(c *Cluster, n int) *loginWriters {
	w := &loginWriters{c: c, stopCh: make(chan struct{}), recovered: make(chan struct{}), failures: map[int]int{}}
	for range n {
		w.wg.Add(1)
		go w.loop()
	}
	return w
}

func (w *loginWriters) loop() {
	defer w.wg.Done()
	for {
		select {
		case <-w.stopCh:
			return
		default:
		}
		started := time.Now()
		_, st := w.c.TryLogin(w.c.LBURL)
		now := time.Now()
		w.mu.Lock()
		if st == http.StatusOK {
			w.successes.Add(1)
			if !w.killedAt.IsZero() && started.After(w.killedAt) && w.firstAfterKill.IsZero() {
				w.firstAfterKill = now
				close(w.recovered)
			}
		} else {
			w.failures[st]++
		}
		w.mu.Unlock()
		if st != http.StatusOK {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (w *loginWriters) kill(n *Node) {
	w.mu.Lock()
	w.killedAt = time.Now()
	w.mu.Unlock()
	n.Kill9()
}

func (w *loginWriters) stop() {
	close(w.stopCh)
	w.wg.Wait()
}

// BenchmarkHTTPLogin measures password logins per second through HAProxy:
// eight clients, each request a new TLS connection (the harness client
// disables keep-alives) to whichever node HAProxy picks. A login verifies
// the password with argon2id and replicates a new API session, so on a
// small machine it is bound by argon2id CPU, not by the write path; it runs
// once with Garrison's default costs (19 MiB, 2 passes, 1 lane) and once
// with OpenZiti's (3 MiB, 1 pass, 4 lanes), each cluster hashing its admin
// password with its own. Answers are not validated against the API spec
// here, to keep the client's own CPU use small.
//
//	GARRISON_BIN=$PWD/bin/garrison go test -run '^$' -bench BenchmarkHTTPLogin -benchtime 10s -timeout 30m ./e2e/
func BenchmarkHTTPLogin(b *testing.B) {
	skipShortBench(b)
	for _, h := range []struct {
		name   string
		params edge.Argon2Params
	}{{"argon2=default", edge.DefaultArgon2}, {"argon2=openziti", edge.Argon2Params{MemoryKiB: 3 * 1024, Passes: 1, Lanes: 4}}} {
		b.Run(h.name, func(b *testing.B) {
			benchkit.AsTest(b, func(t *testing.T) {
				c := newCluster(t, clusterOptions{passwordHashing: &h.params})
				url := c.LBURL + "/edge/client/v1/authenticate?method=password"
				creds := map[string]string{"username": adminUser, "password": adminPassword}
				b.Run("clients=8", func(b *testing.B) {
					benchLogins(b, 8, func() (time.Duration, error) {
						start := time.Now()
						r := c.do("POST", url, "", creds, false)
						d := time.Since(start)
						if r.Status != http.StatusOK {
							return 0, fmt.Errorf("login through HAProxy: status %d %v", r.Status, r.Body)
						}
						return d, nil
					})
				})
			})
		})
	}
}

// BenchmarkExtJwtLogin measures ext-jwt logins per second through HAProxy:
// eight clients present a token of a signer whose key set a loopback
// server serves (cached by the nodes after the first fetch); each login is
// a signature check, two lookups and the replicated API session.
//
//	GARRISON_BIN=$PWD/bin/garrison go test -run '^$' -bench BenchmarkExtJwtLogin -benchtime 10s -timeout 30m ./e2e/
func BenchmarkExtJwtLogin(b *testing.B) {
	skipShortBench(b)
	benchkit.AsTest(b, func(t *testing.T) {
		c := newCluster(t, clusterOptions{})
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "bench", Algorithm: "ES256", Use: "sig"}}})
		jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(set) }))
		defer jwks.Close()
		admin := c.Login(c.LBURL)
		if st, body, _ := c.Do("POST", c.LBURL+"/edge/management/v1/external-jwt-signers", admin, map[string]any{"name": "bench-idp",
			"enabled": true, "issuer": "https://idp.bench.test", "audience": "garrison", "jwksEndpoint": jwks.URL}); st != http.StatusCreated {
			t.Fatalf("create the signer: %d %v", st, body)
		}
		st, body, _ := c.Do("POST", c.LBURL+"/edge/management/v1/identities", admin, map[string]any{"name": "bench-ext", "type": "User", "isAdmin": false})
		if st != http.StatusCreated {
			t.Fatalf("create the identity: %d %v", st, body)
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": "https://idp.bench.test", "aud": "garrison",
			"sub": dig(body, "data", "id"), "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = "bench"
		signed, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		url := c.LBURL + "/edge/client/v1/authenticate?method=ext-jwt"
		b.Run("clients=8", func(b *testing.B) {
			benchLogins(b, 8, func() (time.Duration, error) {
				start := time.Now()
				r := c.doHeader("POST", url, "Authorization", "Bearer "+signed)
				d := time.Since(start)
				if r.Status != http.StatusOK {
					return 0, fmt.Errorf("ext-jwt login through HAProxy: status %d %v", r.Status, r.Body)
				}
				return d, nil
			})
		})
	})
}

// benchLogins runs login with workers clients and reports logins/s and
// the latency percentiles.
func benchLogins(b *testing.B, workers int, login func() (time.Duration, error)) {
	res := benchkit.Run(b, workers, func(int64) (time.Duration, error) { return login() })
	if res.Err != nil {
		b.Fatalf("%d of %d logins failed; first: %v", res.Failed, b.N, res.Err)
	}
	res.Report(b, "logins/s")
}

func benchRound(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.Round(time.Millisecond).String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// skipShortBench skips end-to-end benchmarks under -short.
func skipShortBench(b *testing.B) {
	b.Helper()
	if testing.Short() {
		b.Skip("end-to-end benchmark: skipped with -short")
	}
}
