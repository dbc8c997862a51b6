package e2e

import (
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hit is one request of the hammering client.
type hit struct {
	at, done time.Time
	status   int // 0: no answer
	node     string
}

// hammer GETs path through HAProxy every 20 ms until stop is closed.
func (c *Cluster) hammer(token string, stop chan struct{}) func() []hit {
	var mu sync.Mutex
	var hits []hit
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			req, _ := http.NewRequest(http.MethodGet, c.LBURL+"/edge/client/v1/current-identity", nil)
			req.Header.Set("zt-session", token)
			h := hit{at: time.Now()}
			if resp, err := c.http.Do(req); err == nil {
				h.status, h.node = resp.StatusCode, resp.Header.Get("Garrison-Node")
				resp.Body.Close()
			}
			h.done = time.Now()
			mu.Lock()
			hits = append(hits, h)
			mu.Unlock()
		}
	}()
	return func() []hit {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return hits
	}
}

// window reports, of the hits sent in [from, to), when the last one
// served by node was sent and when the last that failed ended, as offsets
// from from (negative: none).
func window(hits []hit, from, to time.Time, node string) (lastServed, lastError time.Duration) {
	lastServed, lastError = -1, -1
	for _, h := range hits {
		if h.at.Before(from) || !h.at.Before(to) {
			continue
		}
		if h.node == node {
			lastServed = h.at.Sub(from)
		}
		if h.status != http.StatusOK {
			lastError = h.done.Sub(from)
		}
	}
	return lastServed, lastError
}

// HAProxy checks readiness: a node frozen with SIGSTOP, and a node removed
// from the cluster while it keeps running, leave the pool within two
// check intervals (1 s each; 1 s check timeout) and a client hammering
// through HAProxy sees errors only until then; the frozen node returns
// once it runs again.
func TestLoadBalancerLeavesOutUnreadyNodes(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	admin := c.Login(c.LBURL)
	var followers []*Node
	leader := c.Leader(admin)
	for _, n := range c.Nodes {
		if n != leader {
			followers = append(followers, n)
		}
	}
	removed, frozen := followers[0], followers[1]
	stop := make(chan struct{})
	collect := c.hammer(admin, stop)
	time.Sleep(time.Second)

	// Freeze first: after the removal two voters are left, and freezing
	// one of them would leave no quorum at all.
	if err := frozen.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozenAt := time.Now()
	time.Sleep(5 * time.Second)
	if err := frozen.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumedAt := time.Now()
	time.Sleep(4 * time.Second)

	c.mustCLI("edge", "login", leader.URL(), "-u", adminUser, "-p", adminPassword, "--ca", c.caFile)
	// The removal takes effect while the command runs: errors from then on
	// belong to it.
	removedAt := time.Now()
	c.mustCLI("cluster", "remove", removed.Name)
	time.Sleep(4 * time.Second)
	close(stop)
	hits := collect()

	const budget = 2*time.Second + 1500*time.Millisecond // two intervals, a check timeout, a fastinter
	served, failed := window(hits, removedAt, time.Now(), removed.Name)
	t.Logf("removed %s: last request it served %v after removal, last error %v (-1: none)", removed.Name, served, failed)
	if served > budget || failed > budget {
		t.Errorf("the removed node served until %v and errors lasted until %v after its removal", served, failed)
	}
	served, failed = window(hits, frozenAt, resumedAt, frozen.Name)
	t.Logf("frozen %s: last request it served %v after SIGSTOP, last error %v", frozen.Name, served, failed)
	if served > budget || failed > budget {
		t.Errorf("the frozen node served until %v and errors lasted until %v after SIGSTOP", served, failed)
	}
	back := time.Duration(-1)
	for _, h := range hits {
		if h.at.After(resumedAt) && h.node == frozen.Name && h.status == http.StatusOK {
			back = h.at.Sub(resumedAt)
			break
		}
	}
	t.Logf("frozen %s served again %v after SIGCONT", frozen.Name, back)
	if back < 0 || back > 3*time.Second {
		t.Errorf("the resumed node did not return to the pool within 3 s (%v)", back)
	}
	if _, failed := window(hits, resumedAt, removedAt, ""); failed >= 0 {
		t.Errorf("an error %v after the frozen node resumed", failed)
	}
}
