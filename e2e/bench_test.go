package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/internal/benchkit"
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

// BenchmarkHTTPLogin measures logins per second through HAProxy with eight
// concurrent clients, each login a new TLS connection (the harness's client
// disables keep-alives) to whichever node HAProxy picks. A login verifies
// the password with argon2id (rest/password.go: 19 MiB, 2 passes, 1 lane)
// and replicates a new API session, so on a small machine it is bound by
// argon2id CPU, not by the write path. Answers are not validated against
// the API spec here, to keep the client's own CPU use small.
//
//	GARRISON_BIN=$PWD/bin/garrison go test -run '^$' -bench BenchmarkHTTPLogin -benchtime 10s -timeout 30m ./e2e/
func BenchmarkHTTPLogin(b *testing.B) {
	skipShortBench(b)
	benchkit.AsTest(b, func(t *testing.T) {
		c := newCluster(t, clusterOptions{})
		url := c.LBURL + "/edge/client/v1/authenticate?method=password"
		creds := map[string]string{"username": adminUser, "password": adminPassword}
		b.Run("clients=8", func(b *testing.B) {
			res := benchkit.Run(b, 8, func(int64) (time.Duration, error) {
				start := time.Now()
				r := c.do("POST", url, "", creds, false)
				d := time.Since(start)
				if r.Status != http.StatusOK {
					return 0, fmt.Errorf("login through HAProxy: status %d %v", r.Status, r.Body)
				}
				return d, nil
			})
			if res.Err != nil {
				b.Fatalf("%d of %d logins failed; first: %v", res.Failed, b.N, res.Err)
			}
			res.Report(b, "logins/s")
		})
	})
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
