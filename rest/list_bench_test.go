package rest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/cluster"
	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/benchkit"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

const (
	benchIdentities   = 100_000
	benchOpsPerCmd    = 500
	benchRoleAttrs    = 100
	benchEnvTagValues = 10
)

// BenchmarkIdentityList100k measures GET /edge/management/v1/identities on a
// real single-node cluster (Raft over TLS, bbolt state, the API over TLS)
// holding 100,000 identities. It starts its own node in a temporary
// directory (not the shared test cluster, which other tests list), seeds it
// through Node.Apply with commands of 500 create ops each, and then runs one
// sub-benchmark per kind of list request with an admin zt-session token:
//
//	unfiltered   first page, default limit 10, straight from the id bucket
//	name-prefix  name startsWith "bench-0123": the name index, 100 matches
//	tag          tags.env = "e3" limit 10: the tag index, 10,000 matches
//	role         anyOf(roleAttributes) = "r42": the role index, 1,000 matches
//	full-scan    name contains "99999": no index, every record decoded
//
// Each sub-benchmark reports the p50 and p99 of its own requests and the
// totalCount of the answer; "seed" reports the seeding rate (ns/op is the
// seeding time per identity), the process RSS and high-water mark after
// seeding (the process holds the client as well as the node) and the size
// of state.db. Run it with a fixed count:
//
//	go test -run '^$' -bench BenchmarkIdentityList100k -benchtime 50x ./rest/
func BenchmarkIdentityList100k(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds 100,000 identities: skipped with -short")
	}
	n, _, dir := startBenchNode(b, "bench1")
	token := benchLogin(b, n)

	seedTime := benchSeedIdentities(b, n, benchIdentities)
	rss, hwm := procMemKiB(b)
	st, err := os.Stat(filepath.Join(dir, "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d identities in %s (%.0f identities/s); VmRSS %d KiB, VmHWM %d KiB; state.db %d bytes",
		benchIdentities, seedTime.Round(time.Millisecond), benchIdentities/seedTime.Seconds(), rss, hwm, st.Size())

	b.Run("seed", func(b *testing.B) {
		for b.Loop() {
		}
		b.ReportMetric(float64(seedTime.Nanoseconds())/benchIdentities, "ns/op")
		b.ReportMetric(benchIdentities/seedTime.Seconds(), "identities/s")
		b.ReportMetric(float64(rss)/1024, "rss-MiB")
		b.ReportMetric(float64(hwm)/1024, "hwm-MiB")
		b.ReportMetric(float64(st.Size())/(1<<20), "db-MiB")
	})

	cases := []struct {
		name, filter string
		want         int64
	}{
		{"unfiltered", "", benchIdentities + 1}, // and the admin
		{"name-prefix", `name startsWith "bench-0123"`, 100},
		{"tag", `tags.env = "e3" limit 10`, benchIdentities / benchEnvTagValues},
		{"role", `anyOf(roleAttributes) = "r42"`, benchIdentities / benchRoleAttrs},
		{"full-scan", `name contains "99999"`, 1},
	}
	for _, c := range cases {
		path := ManagementBase + "/identities"
		if c.filter != "" {
			path += "?filter=" + url.QueryEscape(c.filter)
		}
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			var last []byte
			for b.Loop() {
				start := time.Now()
				status, raw, err := benchGet(n, path, token)
				lat = append(lat, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				if status != http.StatusOK {
					b.Fatalf("GET %s: %d %s", path, status, raw)
				}
				last = raw
			}
			var body struct {
				Data []json.RawMessage `json:"data"`
				Meta struct {
					Pagination struct {
						TotalCount int64 `json:"totalCount"`
					} `json:"pagination"`
				} `json:"meta"`
			}
			if err := json.Unmarshal(last, &body); err != nil {
				b.Fatalf("decode %s: %v", path, err)
			}
			if got := body.Meta.Pagination.TotalCount; got != c.want {
				b.Errorf("%s: totalCount %d, want %d", c.name, got, c.want)
			}
			slices.Sort(lat)
			b.ReportMetric(benchkit.Millis(benchkit.Percentile(lat, 50)), "p50-ms")
			b.ReportMetric(benchkit.Millis(benchkit.Percentile(lat, 99)), "p99-ms")
			b.ReportMetric(float64(body.Meta.Pagination.TotalCount), "totalCount")
			b.ReportMetric(float64(len(body.Data)), "page")
			rss, _ := procMemKiB(b)
			b.ReportMetric(float64(rss)/1024, "rss-MiB")
		})
	}
}

// startBenchNode starts a one-member cluster with the default admin in a
// temporary directory, closed when tb ends, and returns it, its PKI (for
// more members) and its directory.
func startBenchNode(tb testing.TB, name string, clusterCfg ...func(*cluster.Config)) (*apiNode, *testPKI, string) {
	tb.Helper()
	p, err := newTestPKI()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	n, err := startAdminNode(p, name, dir, clusterCfg...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(n.close)
	return n, p, dir
}

// benchSeedIdentities writes count bench identities through the cluster
// in commands of benchOpsPerCmd creates and returns the time it took.
func benchSeedIdentities(b testing.TB, n *apiNode, count int) time.Duration {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	for first := 0; first < count; first += benchOpsPerCmd {
		ops := make([]*pb.Op, 0, benchOpsPerCmd)
		for i := first; i < min(first+benchOpsPerCmd, count); i++ {
			name := fmt.Sprintf("bench-%06d", i)
			id := uuid.NewSHA1(uuid.NameSpaceOID, []byte(name)).String()
			op, err := fsm.CreateOp(fsm.KindIdentity, id, &pb.Identity{
				Name: name, TypeId: "Device", RoleAttributes: []string{"r" + strconv.Itoa(i%benchRoleAttrs)},
			}, map[string]any{"env": "e" + strconv.Itoa(i%benchEnvTagValues)})
			if err != nil {
				b.Fatal(err)
			}
			ops = append(ops, op)
		}
		cmd := &pb.Command{RequestId: fmt.Sprintf("bench-seed-%06d", first), Timestamp: time.Now().UnixNano(), Ops: ops}
		res, _, err := n.node.Apply(ctx, cmd)
		if err != nil {
			b.Fatalf("seed from %d: %v", first, err)
		}
		if res.GetCode() != pb.Result_OK {
			b.Fatalf("seed from %d: %v", first, res)
		}
	}
	return time.Since(start)
}

// benchLogin logs the admin in with its password and returns the session token.
func benchLogin(b testing.TB, n *apiNode) string {
	b.Helper()
	body, _ := json.Marshal(map[string]string{"username": adminUsername, "password": adminPassword})
	resp, err := n.client.Post(n.url+ClientBase+"/authenticate?method=password", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK || r.Data.Token == "" {
		b.Fatalf("login: status %d, %v", resp.StatusCode, err)
	}
	return r.Data.Token
}

// benchGet sends a GET with a zt-session token and reads the whole answer.
func benchGet(n *apiNode, path, token string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, n.url+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set(sessionHeader, token)
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// procMemKiB reads VmRSS and VmHWM of this process.
func procMemKiB(b *testing.B) (rss, hwm int64) {
	b.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			rss, _ = strconv.ParseInt(fields[0], 10, 64)
		case "VmHWM":
			hwm, _ = strconv.ParseInt(fields[0], 10, 64)
		}
	}
	return rss, hwm
}
