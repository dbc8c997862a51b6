package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/internal/benchkit"
)

// BenchmarkMetricsOverhead: the cost of /metrics's instruments on writes
// (creating identities) and lists (a page of ten identities), eight
// clients through HAProxy over keep-alive connections, on a cluster with
// metrics off and then one with metrics on, in one run.
//
//	GARRISON_BIN=$PWD/bin/garrison go test -run '^$' -bench BenchmarkMetricsOverhead -benchtime 5s -timeout 30m ./e2e/
func BenchmarkMetricsOverhead(b *testing.B) {
	skipShortBench(b)
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("metrics=%v", on), func(b *testing.B) {
			benchkit.AsTest(b, func(t *testing.T) {
				extra := ""
				if on {
					extra = "metrics:\n  enabled: true\n"
				}
				c := newCluster(t, clusterOptions{extraConfig: extra})
				admin := c.Login(c.LBURL)
				client := keepAliveClient(t, c)
				send := func(method, url string, body []byte, want int) (time.Duration, error) {
					req, err := http.NewRequest(method, url, bytes.NewReader(body))
					if err != nil {
						return 0, err
					}
					req.Header.Set("zt-session", admin)
					req.Header.Set("Content-Type", "application/json")
					start := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						return 0, err
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != want {
						return 0, fmt.Errorf("%s %s: %d", method, url, resp.StatusCode)
					}
					return time.Since(start), nil
				}
				mgmt := c.LBURL + "/edge/management/v1"
				run := func(name, unit string, op func(k int64) (time.Duration, error)) {
					b.Run(name, func(b *testing.B) {
						res := benchkit.Run(b, 8, op)
						if res.Err != nil {
							b.Errorf("%d of %d failed; first: %v", res.Failed, b.N, res.Err)
							return
						}
						res.Report(b, unit)
					})
				}
				var seq atomic.Int64 // names stay unique across b.N's sizing rounds
				run("op=write", "writes/s", func(int64) (time.Duration, error) {
					body := fmt.Appendf(nil, `{"name":"bench-%d","type":"User","isAdmin":false}`, seq.Add(1))
					return send(http.MethodPost, mgmt+"/identities", body, http.StatusCreated)
				})
				run("op=list", "lists/s", func(int64) (time.Duration, error) {
					return send(http.MethodGet, mgmt+"/identities?limit=10", nil, http.StatusOK)
				})
			})
		})
	}
}
