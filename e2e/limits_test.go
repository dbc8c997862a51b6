package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// A client that sends a login's headers and then withholds or trickles
// its body is cut off after http.readTimeout, and such clients, however
// many, leave the node answering others.
func TestSlowBodiesAreCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := newCluster(t, clusterOptions{nodes: 1, noHAProxy: true, extraConfig: "http:\n  readTimeout: 2s\n  maxPublicRequests: 8\n"})
	n := c.Nodes[0]
	token := c.Login(n.URL())
	slow := func(trickle bool) (time.Duration, int, error) {
		conn, err := tls.Dial("tcp", n.APIAddr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return 0, 0, err
		}
		defer conn.Close()
		start := time.Now()
		_, err = fmt.Fprintf(conn, "POST /edge/client/v1/authenticate?method=password HTTP/1.1\r\nHost: %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{", n.APIAddr)
		if err != nil {
			return 0, 0, err
		}
		if trickle {
			go func() {
				for range 20 {
					time.Sleep(time.Second)
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}()
		}
		_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		status := 0
		if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		_, _ = io.Copy(io.Discard, conn) // until the node closes it
		return time.Since(start), status, nil
	}
	var wg sync.WaitGroup
	took := make([]time.Duration, 20)
	statuses := make([]int, 20)
	errs := make([]error, 20)
	for i := range took {
		wg.Add(1)
		go func() {
			defer wg.Done()
			took[i], statuses[i], errs[i] = slow(i%2 == 1)
		}()
	}
	// Meanwhile the node answers: 20 slow clients hold at most 8 public
	// slots (the others got 429 at once), and none of a session's.
	time.Sleep(500 * time.Millisecond)
	if st := c.SessionValid(n.URL(), token); st != http.StatusOK {
		t.Fatalf("a session's request while slow clients hold the node: %d", st)
	}
	if st, _, _ := c.Do("POST", n.URL()+"/edge/client/v1/authenticate?method=password", "",
		map[string]string{"username": adminUser, "password": adminPassword}); st != http.StatusTooManyRequests {
		t.Fatalf("a login while the public slots are held: %d, want 429", st)
	}
	wg.Wait()
	refused := 0
	for i, d := range took {
		if statuses[i] == http.StatusTooManyRequests {
			refused++
		}
		if errs[i] != nil {
			t.Fatalf("slow client %d: %v", i, errs[i])
		}
		if d > 10*time.Second {
			t.Fatalf("slow client %d (trickling: %v) was held %s", i, i%2 == 1, d)
		}
	}
	if refused < 12 {
		t.Fatalf("%d of 20 slow clients were refused at once (%v), want at least 12: 8 public slots", refused, statuses)
	}
}
