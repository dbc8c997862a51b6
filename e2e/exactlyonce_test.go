package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// idempotentCreate creates an identity through HAProxy, retrying with the
// same Idempotency-Key on any error or 5xx until it gets a 201 or a
// deadline passes, each try bounded by tryTimeout. It returns the id of
// every 201 and how long the whole write took.
func (c *Cluster) idempotentCreate(client *http.Client, admin, name string, deadline time.Duration) ([]string, time.Duration, int, error) {
	body, _ := json.Marshal(map[string]any{"name": name, "type": "User", "isAdmin": false})
	key := "write-" + name
	start := time.Now()
	var ids []string
	tries := 0
	for time.Since(start) < deadline {
		tries++
		req, _ := http.NewRequest(http.MethodPost, c.LBURL+"/edge/management/v1/identities", bytes.NewReader(body))
		req.Header.Set("zt-session", admin)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := client.Do(req)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			var out struct {
				Data struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			_ = json.Unmarshal(raw, &out)
			ids = append(ids, out.Data.ID)
			return ids, time.Since(start), tries, nil
		}
		if resp.StatusCode < 500 {
			return ids, time.Since(start), tries, fmt.Errorf("%s: %d %s", name, resp.StatusCode, raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ids, time.Since(start), tries, fmt.Errorf("%s: no 201 within %s", name, deadline)
}

// While the leader is frozen (SIGSTOP), six clients keep creating
// identities through HAProxy, each retrying with its Idempotency-Key: every
// write ends 201, exactly once (one identity per name, one id per write),
// and none takes longer than 6 s with its retries. The freeze lasts
// $GARRISON_FREEZE (default 8s; the experiment is 20s).
func TestFrozenLeaderWritesEndOnce(t *testing.T) {
	freeze := 8 * time.Second
	if v := os.Getenv("GARRISON_FREEZE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		freeze = d
	}
	c := newCluster(t, clusterOptions{})
	admin := c.Login(c.LBURL)
	leader := c.Leader(admin)
	client := &http.Client{Timeout: 3 * time.Second, Transport: c.http.Transport}
	type outcome struct {
		name  string
		ids   []string
		took  time.Duration
		tries int
		err   error
	}
	var mu sync.Mutex
	var outcomes []outcome
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("frozen-%d-%d", w, i)
				ids, took, tries, err := c.idempotentCreate(client, admin, name, 30*time.Second)
				mu.Lock()
				outcomes = append(outcomes, outcome{name, ids, took, tries, err})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	if err := leader.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(freeze)
	if err := leader.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	var took []time.Duration
	retried := 0
	for _, o := range outcomes {
		if o.err != nil {
			t.Errorf("write %s: %v", o.name, o.err)
			continue
		}
		took = append(took, o.took)
		if o.tries > 1 {
			retried++
		}
	}
	slices.Sort(took)
	worst := took[len(took)-1]
	t.Logf("%d writes, %d retried, longest %s, p99 %s, leader %s frozen %s", len(outcomes), retried, worst,
		took[len(took)*99/100], leader.Name, freeze)
	if worst > 6*time.Second {
		t.Errorf("a write took %s with its retries (want at most 6 s)", worst)
	}
	// Exactly once: each name is one identity, whose id the 201 named.
	reader := c.Login(c.LBURL)
	byName := map[string][]string{}
	for offset := 0; ; offset += 500 {
		st, body, _ := c.Do("GET", fmt.Sprintf("%s/edge/management/v1/identities?limit=500&offset=%d&filter=name%%20contains%%20%%22frozen-%%22", c.LBURL, offset), reader, nil)
		if st != http.StatusOK {
			t.Fatalf("list: %d", st)
		}
		page := body["data"].([]any)
		for _, item := range page {
			m := item.(map[string]any)
			byName[m["name"].(string)] = append(byName[m["name"].(string)], m["id"].(string))
		}
		if len(page) < 500 {
			break
		}
	}
	if len(byName) != len(outcomes) {
		t.Errorf("%d names stored, %d writes", len(byName), len(outcomes))
	}
	for _, o := range outcomes {
		if o.err != nil {
			continue
		}
		if got := byName[o.name]; len(got) != 1 || got[0] != o.ids[0] {
			t.Errorf("write %s: stored %v, the 201 named %v", o.name, got, o.ids)
		}
	}
}
