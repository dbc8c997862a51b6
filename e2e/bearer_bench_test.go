package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/internal/benchkit"
)

// BenchmarkBearerReads measures authenticated reads through HAProxy: eight
// concurrent clients GET /edge/management/v1/current-identity over
// keep-alive connections (one shared Transport, MaxIdleConnsPerHost 16), so
// after the first requests no TLS handshake is in the path. The admin logs
// in once; header=bearer sends the login's data.accessToken as
// "Authorization: Bearer" (an ES256 JWT checked against the issuing
// member's signing key, then the API session it names is looked up),
// header=zt-session sends the session token (one store lookup). Answers are
// checked for status 200 only, not against the spec, to keep the client's
// CPU use small.
//
//	GARRISON_BIN=$PWD/bin/garrison go test -run '^$' -bench BenchmarkBearerReads -benchtime 10s -timeout 30m ./e2e/
//
// Access tokens live 10 minutes, so a run must stay well under that.
func BenchmarkBearerReads(b *testing.B) {
	skipShortBench(b)
	benchkit.AsTest(b, func(t *testing.T) {
		c := newCluster(t, clusterOptions{})
		st, body, _ := c.Do("POST", c.LBURL+"/edge/client/v1/authenticate?method=password", "",
			map[string]string{"username": adminUser, "password": adminPassword})
		if st != http.StatusOK {
			t.Fatalf("login through HAProxy: %d %v", st, body)
		}
		session, _ := dig(body, "data", "token").(string)
		access, _ := dig(body, "data", "accessToken").(string)
		if session == "" || access == "" {
			t.Fatalf("login answer lacks token or accessToken: %v", body)
		}
		client := keepAliveClient(t, c)
		url := c.LBURL + "/edge/management/v1/current-identity"
		for _, h := range []struct{ name, header, value string }{
			{"bearer", "Authorization", "Bearer " + access},
			{"zt-session", "zt-session", session},
		} {
			b.Run("header="+h.name, func(b *testing.B) {
				res := benchkit.Run(b, 8, func(int64) (time.Duration, error) {
					req, err := http.NewRequest(http.MethodGet, url, nil)
					if err != nil {
						return 0, err
					}
					req.Header.Set(h.header, h.value)
					d, _, err := timed(client, req, "GET current-identity with "+h.name)
					return d, err
				})
				if res.Err != nil {
					b.Errorf("%d of %d reads failed; first: %v", res.Failed, b.N, res.Err)
					return
				}
				res.Report(b, "reads/s")
			})
		}
	})
}
