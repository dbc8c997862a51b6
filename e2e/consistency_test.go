package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/internal/benchkit"
)

// probeClients are the two ways a client reaches a node: one keep-alive
// connection reused for every request, and a new connection (new TLS
// handshake) for every request, as a CLI or a load-balanced client does.
type probeClients struct {
	keepAlive, fresh *http.Client
}

func newProbeClients(t *testing.T, c *Cluster) probeClients {
	ka := keepAliveClient(t, c)
	tr := ka.Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return probeClients{keepAlive: ka, fresh: &http.Client{Timeout: 30 * time.Second, Transport: tr}}
}

// rawDo sends one request without schema checks (the probe and the
// benchmarks measure; the tests check the same answers elsewhere) and
// returns the status and body.
func rawDo(client *http.Client, method, url, token string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("zt-session", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, raw, err
}

// createIdentity creates a plain identity through base and returns its id.
func createIdentity(client *http.Client, base, token, name string) (string, error) {
	body, _ := json.Marshal(map[string]any{"name": name, "type": "Default", "isAdmin": false})
	st, raw, err := rawDo(client, "POST", base+"/edge/management/v1/identities", token, body)
	if err != nil {
		return "", err
	}
	if st != http.StatusCreated {
		return "", fmt.Errorf("create identity through %s: %d %s", base, st, raw)
	}
	var out struct {
		Data struct{ ID string } `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Data.ID == "" {
		return "", fmt.Errorf("create answer %s: %v", raw, err)
	}
	return out.Data.ID, nil
}

// staleReadProbe writes through every node X and, as soon as the write is
// acknowledged, reads it through every other node Y, rounds times per pair
// and connection kind: an identity created through X must be found by
// GET /identities/{id} on Y, and a session logged out through X must be
// refused on Y. It returns the misses by "X→Y kind" (only pairs with
// misses) and the number of reads made.
func staleReadProbe(t *testing.T, c *Cluster, admin string, cl probeClients, rounds int) (map[string]int, int) {
	t.Helper()
	misses := map[string]int{}
	reads := 0
	kinds := []struct {
		name   string
		client *http.Client
	}{{"keep-alive", cl.keepAlive}, {"new-connection", cl.fresh}}
	loginBody, _ := json.Marshal(map[string]string{"username": adminUser, "password": adminPassword})
	for _, x := range c.Nodes {
		for _, y := range c.Nodes {
			if x == y {
				continue
			}
			for _, k := range kinds {
				key := fmt.Sprintf("%s→%s %s", x.Name, y.Name, k.name)
				for i := range rounds {
					id, err := createIdentity(cl.keepAlive, x.URL(), admin, fmt.Sprintf("probe-%s-%s-%s-%d-%d", x.Name, y.Name, k.name, i, time.Now().UnixNano()))
					if err != nil {
						t.Fatal(err)
					}
					st, raw, err := rawDo(k.client, "GET", y.URL()+"/edge/management/v1/identities/"+id, admin, nil)
					if err != nil {
						t.Fatalf("read through %s: %v", y.Name, err)
					}
					reads++
					switch st {
					case http.StatusOK:
					case http.StatusNotFound:
						misses[key+" create"]++
					default:
						t.Fatalf("read through %s: %d %s", y.Name, st, raw)
					}
				}
				// A logout acknowledged through X is seen on Y.
				for range max(rounds/4, 1) {
					st, raw, err := rawDo(cl.keepAlive, "POST", x.URL()+"/edge/client/v1/authenticate?method=password", "", loginBody)
					if err != nil || st != http.StatusOK {
						t.Fatalf("login through %s: %d %v %s", x.Name, st, err, raw)
					}
					var out struct {
						Data struct {
							Token       string `json:"token"`
							AccessToken string `json:"accessToken"`
						} `json:"data"`
					}
					if err := json.Unmarshal(raw, &out); err != nil {
						t.Fatal(err)
					}
					// Use the session on Y first, so a node that caches
					// nothing still has a reason to know it.
					if st, raw, err := rawDo(k.client, "GET", y.URL()+"/edge/client/v1/current-api-session", out.Data.Token, nil); err != nil || st != http.StatusOK {
						t.Fatalf("new session on %s: %d %v %s", y.Name, st, err, raw)
					}
					if st, raw, err := rawDo(cl.keepAlive, "DELETE", x.URL()+"/edge/client/v1/current-api-session", out.Data.Token, nil); err != nil || st != http.StatusOK {
						t.Fatalf("logout through %s: %d %v %s", x.Name, st, err, raw)
					}
					// Both credentials of the ended session: the token and
					// the bearer access token.
					for _, cred := range []string{"token", "bearer"} {
						req, _ := http.NewRequest("GET", y.URL()+"/edge/client/v1/current-api-session", nil)
						if cred == "token" {
							req.Header.Set("zt-session", out.Data.Token)
						} else {
							req.Header.Set("Authorization", "Bearer "+out.Data.AccessToken)
						}
						resp, err := k.client.Do(req)
						if err != nil {
							t.Fatal(err)
						}
						raw, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						reads++
						switch resp.StatusCode {
						case http.StatusUnauthorized:
						case http.StatusOK:
							misses[key+" logout "+cred]++
						default:
							t.Fatalf("session check through %s: %d %s", y.Name, resp.StatusCode, raw)
						}
					}
				}
			}
		}
	}
	return misses, reads
}

func formatMisses(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %d; ", k, m[k])
	}
	return b.String()
}

// A write acknowledged through any node is seen by a read that starts
// afterwards on any other node, over kept-alive and new connections alike,
// and a logout acknowledged anywhere is refused everywhere at once.
func TestNoStaleReadsBetweenNodes(t *testing.T) {
	c := newCluster(t, clusterOptions{noHAProxy: true})
	admin := c.Login(c.Nodes[0].URL())
	misses, reads := staleReadProbe(t, c, admin, newProbeClients(t, c), 8)
	if len(misses) > 0 {
		t.Fatalf("%d reads, stale answers: %s", reads, formatMisses(misses))
	}
}

// BenchmarkConsistency measures, on one three-node cluster in one run, what
// linearizable reads and follower writes cost and buy:
//   - the stale-read probe (staleReadProbe): misses out of reads;
//   - one client writing (identity create) through the leader and through a
//     follower, interleaved, p50 and p99 of each;
//   - one client listing GET /identities?limit=10 on a follower, p50/p99;
//   - 64 keep-alive clients listing over all three nodes for 10 s: lists/s.
//
// Run it once:
//
//	GARRISON_BIN=$PWD/bin/garrison go test -run '^$' -bench BenchmarkConsistency -benchtime 1x -timeout 30m ./e2e/
func BenchmarkConsistency(b *testing.B) {
	skipShortBench(b)
	benchkit.AsTest(b, func(t *testing.T) {
		c := newCluster(t, clusterOptions{noHAProxy: true})
		admin := c.Login(c.Nodes[0].URL())
		cl := newProbeClients(t, c)

		misses, reads := staleReadProbe(t, c, admin, cl, 20)
		total := 0
		for _, n := range misses {
			total += n
		}
		b.Logf("stale-read probe: %d of %d reads stale: %s", total, reads, formatMisses(misses))
		b.ReportMetric(float64(total), "stale-reads")

		leader := c.Leader(admin)
		var follower *Node
		for _, n := range c.Nodes {
			if n != leader {
				follower = n
				break
			}
		}
		const writes = 300
		var atLeader, atFollower []time.Duration
		for i := range 2 * writes {
			n := leader
			if i%2 == 1 {
				n = follower
			}
			start := time.Now()
			if _, err := createIdentity(cl.keepAlive, n.URL(), admin, fmt.Sprintf("w-%d-%d", i, time.Now().UnixNano())); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); n == leader {
				atLeader = append(atLeader, d)
			} else {
				atFollower = append(atFollower, d)
			}
		}
		lp50, lp99 := p50p99(atLeader)
		fp50, fp99 := p50p99(atFollower)
		b.Logf("one writer: leader p50 %.2f ms p99 %.2f ms; follower p50 %.2f ms p99 %.2f ms (%.2f×)", lp50, lp99, fp50, fp99, fp50/lp50)
		b.ReportMetric(lp50, "leader-write-p50-ms")
		b.ReportMetric(fp50, "follower-write-p50-ms")

		listURL := "/edge/management/v1/identities?limit=10"
		var lists []time.Duration
		for range 1000 {
			start := time.Now()
			st, raw, err := rawDo(cl.keepAlive, "GET", follower.URL()+listURL, admin, nil)
			if err != nil || st != http.StatusOK {
				t.Fatalf("list on follower: %d %v %s", st, err, raw)
			}
			lists = append(lists, time.Since(start))
		}
		rp50, rp99 := p50p99(lists)
		b.Logf("one reader on a follower: list p50 %.3f ms p99 %.3f ms", rp50, rp99)
		b.ReportMetric(rp50, "follower-list-p50-ms")

		const clients = 64
		tr := cl.keepAlive.Transport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = clients
		tr.TLSClientConfig = tr.TLSClientConfig.Clone()
		tr.TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(64)
		many := &http.Client{Timeout: 30 * time.Second, Transport: tr}
		t.Cleanup(tr.CloseIdleConnections)
		var done atomic.Int64
		var failed atomic.Int64
		var wg sync.WaitGroup
		stop := time.Now().Add(10 * time.Second)
		start := time.Now()
		for w := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				base := c.Nodes[w%len(c.Nodes)].URL()
				for time.Now().Before(stop) {
					if st, _, err := rawDo(many, "GET", base+listURL, admin, nil); err != nil || st != http.StatusOK {
						failed.Add(1)
						continue
					}
					done.Add(1)
				}
			}()
		}
		wg.Wait()
		rate := float64(done.Load()) / time.Since(start).Seconds()
		b.Logf("%d readers over all nodes: %.0f lists/s (%d failed)", clients, rate, failed.Load())
		b.ReportMetric(rate, "lists/s-64")
		if failed.Load() > 0 {
			t.Errorf("%d lists failed", failed.Load())
		}
	})
}

func p50p99(d []time.Duration) (float64, float64) {
	s := slices.Clone(d)
	slices.Sort(s)
	return benchkit.Millis(benchkit.Percentile(s, 50)), benchkit.Millis(benchkit.Percentile(s, 99))
}
