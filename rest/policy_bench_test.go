package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/cluster"
	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/benchkit"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// The policy-model scale: 100,000 identities (attributes r0..r99), 10,000
// services (attributes s0..s3999), 100 edge routers (g0..g9), 2,000
// service policies (#r → #s; every 50th names a service by id; five match
// #all identities), 500 edge-router and 500 service edge-router policies,
// and one #all × #all policy of each router kind, so sessions find routers.
type policyScale struct {
	identities, services, serviceAttrs, routers, policies, routerPolicies int
}

// fullScale is the benchmark's; the smoke test runs a hundredth of it.
var fullScale = policyScale{identities: benchIdentities, services: 10_000, serviceAttrs: 4_000, routers: 100, policies: 2_000, routerPolicies: 500}

// BenchmarkPolicyScale measures the policy model on a real single-node
// cluster (Raft over TLS, bbolt state, the API over TLS) seeded through
// Node.Apply (commands of 500 creates) with the entities above:
//
//	identity-create-empty  POST /identities before seeding, one client
//	identity-create        the same after seeding
//	services-1, -16        client GET /services?limit=500 of an identity
//	                       that reaches ~50 services, 1 and 16 clients
//	session-create         client POST /sessions for one of them
//	policy-all-all         POST /service-policies matching #all × #all
//	                       (deleted again after the run)
//	services-1-reach-all   services-1 with one such policy: the first 500
//	                       of the 10,000 services the identity then reaches
//	services-1-follower    services-1 on a follower, once three members
//
// It reports p50/p99 per request, the services answered, and RSS and
// state.db size after seeding; then the time a second member takes to catch
// up by log replay, the first node's restart until it serves again, and a
// third member's catch-up by snapshot install once both have compacted
// their logs. Run it with a fixed count:
//
//	go test -run '^$' -bench BenchmarkPolicyScale -benchtime 200x -timeout 30m ./rest/
func BenchmarkPolicyScale(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds 100,000 identities: skipped with -short")
	}
	// A short retained log, so that a snapshot compacts it and the third
	// member below must install the snapshot (the seeding itself stays far
	// below the snapshot threshold).
	shortLog := func(c *cluster.Config) { c.TrailingLogs = 64 }
	n, p, dir := startBenchNode(b, "scale1", shortLog)
	admin := benchLogin(b, n)

	seq := 0
	createIdentity := func(b *testing.B) {
		seq++
		body := map[string]any{"name": fmt.Sprintf("scale-new-%d", seq), "type": "Default", "isAdmin": false, "roleAttributes": []string{"r1"}}
		if st, raw := benchPost(b, n, ManagementBase+"/identities", admin, body); st != http.StatusCreated {
			b.Fatalf("create identity: %d %s", st, raw)
		}
	}
	timed(b, "identity-create-empty", func(b *testing.B) { createIdentity(b) })

	start := time.Now()
	benchSeedIdentities(b, n, fullScale.identities)
	seedPolicyModel(b, n, fullScale)
	seedTime := time.Since(start)
	rss, hwm := procMemKiB(b)
	st, err := os.Stat(filepath.Join(dir, "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded in %s; VmRSS %d KiB, VmHWM %d KiB; state.db %d bytes", seedTime.Round(time.Millisecond), rss, hwm, st.Size())

	timed(b, "identity-create", func(b *testing.B) { createIdentity(b) })

	// An identity with attribute r7 and a password.
	userID := uuid.NewSHA1(uuid.NameSpaceOID, []byte("bench-000007")).String()
	user := benchPasswordLogin(b, n, userID, "scale-user", "scale-password-1")

	var reached, dialable []string
	list := func(b *testing.B) {
		status, raw, err := benchGet(n, ClientBase+"/services?limit=500", user)
		if err != nil || status != http.StatusOK {
			b.Fatalf("client services: %d %v %s", status, err, raw)
		}
		if reached == nil {
			var body struct {
				Data []struct {
					ID          string   `json:"id"`
					Permissions []string `json:"permissions"`
				} `json:"data"`
			}
			if err := json.Unmarshal(raw, &body); err != nil {
				b.Fatal(err)
			}
			reached = []string{}
			for _, d := range body.Data {
				if slices.Contains(d.Permissions, "Dial") {
					dialable = append(dialable, d.ID)
				}
				reached = append(reached, d.ID)
			}
		}
	}
	timed(b, "services-1", list)
	b.Logf("the identity reaches %d services, %d of them to dial", len(reached), len(dialable))
	if len(dialable) == 0 {
		b.Fatal("the identity may dial no service")
	}
	b.Run("services-16", func(b *testing.B) {
		res := benchkit.Run(b, 16, func(int64) (time.Duration, error) {
			start := time.Now()
			status, raw, err := benchGet(n, ClientBase+"/services?limit=500", user)
			if err != nil || status != http.StatusOK {
				return 0, fmt.Errorf("client services: %d %v %s", status, err, raw)
			}
			return time.Since(start), nil
		})
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		res.Report(b, "lists/s")
	})
	timed(b, "session-create", func(b *testing.B) {
		body := map[string]any{"serviceId": dialable[seq%len(dialable)]}
		seq++
		if st, raw := benchPost(b, n, ClientBase+"/sessions", user, body); st != http.StatusCreated {
			b.Fatalf("create session: %d %s", st, raw)
		}
	})
	var allAll []string
	createAllAll := func(b *testing.B) {
		seq++
		body := map[string]any{"name": fmt.Sprintf("scale-all-%d", seq), "type": "Dial", "semantic": "AnyOf",
			"identityRoles": []string{"#all"}, "serviceRoles": []string{"#all"}}
		st, raw := benchPost(b, n, ManagementBase+"/service-policies", admin, body)
		var created struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if st != http.StatusCreated || json.Unmarshal(raw, &created) != nil {
			b.Fatalf("create policy: %d %s", st, raw)
		}
		allAll = append(allAll, created.Data.ID)
	}
	timed(b, "policy-all-all", createAllAll)
	// With one #all × #all policy the identity reaches all 10,000
	// services: the first page of 500 of them.
	dropAllAll := func() {
		ops := make([]*pb.Op, 0, len(allAll))
		for _, id := range allAll {
			ops = append(ops, fsm.DeleteOp(fsm.KindServicePolicy, id))
		}
		if res, _, err := n.node.Apply(context.Background(), &pb.Command{Timestamp: time.Now().UnixNano(), Ops: ops}); err != nil || res.GetCode() != pb.Result_OK {
			b.Fatalf("delete the #all policies: %v %v", res, err)
		}
		allAll = nil
	}
	dropAllAll()
	b.Run("services-1-reach-all", func(b *testing.B) {
		createAllAll(b)
		list := func(b *testing.B) {
			if status, raw, err := benchGet(n, ClientBase+"/services?limit=500", user); err != nil || status != http.StatusOK {
				b.Fatalf("client services: %d %v %s", status, err, raw)
			}
		}
		timed(b, "list", list)
		dropAllAll()
	})
	rss, hwm = procMemKiB(b)
	b.Logf("after the runs: VmRSS %d KiB, VmHWM %d KiB", rss, hwm)

	m := growScaleCluster(b, n, p, dir, "scale", shortLog, user, fullScale.identities)
	// The same list on the newest member, a follower of a three-node
	// cluster: each read first asks the leader for its commit index.
	timed(b, "services-1-follower", func(b *testing.B) {
		if status, raw, err := benchGet(m.follower, ClientBase+"/services?limit=500", user); err != nil || status != http.StatusOK {
			b.Fatalf("client services on the follower: %d %v %s", status, err, raw)
		}
	})
	b.Run("join-and-restart", func(b *testing.B) {
		for b.Loop() {
		}
		b.ReportMetric(m.join.Seconds(), "join-s")
		b.ReportMetric(m.restart.Seconds(), "restart-s")
		b.ReportMetric(m.install.Seconds(), "install-s")
	})
}

// scaleMembers is what growScaleCluster measured and left running.
type scaleMembers struct {
	join, restart, install time.Duration
	// follower is the third member, a follower of the three.
	follower *apiNode
}

// growScaleCluster grows the seeded one-node cluster n (data in dir) to
// three members and times each step: a second member catching up by log
// replay until a read barrier there returns; n restarted until it serves
// user's services again (a quorum of two: both must be up); then, once both
// have snapshotted and compacted their logs (clusterCfg keeps a short
// log), a third member that can only catch up by installing the snapshot,
// which must hold at least wantIdentities identities.
func growScaleCluster(tb testing.TB, n *apiNode, p *testPKI, dir, prefix string, clusterCfg func(*cluster.Config), user string, wantIdentities int) scaleMembers {
	tb.Helper()
	var m scaleMembers
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	join := func(via *apiNode, name string) (*apiNode, time.Duration) {
		k, err := startAPINode(p, prefix+name, tb.TempDir(), 0, nil, clusterCfg)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(k.close)
		start := time.Now()
		if err := via.node.AddMember(ctx, "tls:"+k.node.Address(), true); err != nil {
			tb.Fatalf("add %s: %v", k.name, err)
		}
		if err := k.node.ReadBarrier(ctx); err != nil {
			tb.Fatalf("the read barrier of %s: %v", k.name, err)
		}
		return k, time.Since(start)
	}
	j, took := join(n, "2")
	m.join = took
	tb.Logf("a new member caught up (applied %d) in %s", j.store.AppliedIndex(), m.join.Round(time.Millisecond))

	n.close()
	start := time.Now()
	n2, err := startAPINode(p, n.name, dir, 0, nil, clusterCfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(n2.close)
	for {
		status, _, err := benchGet(n2, ClientBase+"/services?limit=500", user)
		if err == nil && status == http.StatusOK {
			break
		}
		if time.Since(start) > 2*time.Minute {
			tb.Fatalf("not serving 2 minutes after the restart: %d %v", status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.restart = time.Since(start)
	tb.Logf("restarted and serving the client's services in %s", m.restart.Round(time.Millisecond))

	start = time.Now()
	for _, member := range []*apiNode{n2, j} {
		if err := member.node.Snapshot(ctx); err != nil {
			tb.Fatalf("snapshot on %s: %v", member.name, err)
		}
	}
	tb.Logf("both members snapshotted in %s", time.Since(start).Round(time.Millisecond))
	m.follower, m.install = join(n2, "3")
	var count int
	if err := m.follower.store.View(func(rd *fsm.Reader) error {
		var err error
		count, err = rd.Count(fsm.KindIdentity)
		return err
	}); err != nil || count < wantIdentities {
		tb.Fatalf("the third member holds %d identities: %v", count, err)
	}
	tb.Logf("a third member installed the snapshot (%d identities) and caught up in %s", count, m.install.Round(time.Millisecond))
	return m
}

// timed runs op b.N times in a sub-benchmark and reports p50/p99.
func timed(b *testing.B, name string, op func(b *testing.B)) {
	b.Run(name, func(b *testing.B) {
		var lat []time.Duration
		for b.Loop() {
			start := time.Now()
			op(b)
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(benchkit.Millis(benchkit.Percentile(lat, 50)), "p50-ms")
		b.ReportMetric(benchkit.Millis(benchkit.Percentile(lat, 99)), "p99-ms")
	})
}

// seedPolicyModel writes the services, routers and policies through the
// cluster in commands of benchOpsPerCmd creates.
func seedPolicyModel(b testing.TB, n *apiNode, sc policyScale) {
	b.Helper()
	var ops []*pb.Op
	flush := func() {
		if len(ops) == 0 {
			return
		}
		cmd := &pb.Command{RequestId: uuid.NewString(), Timestamp: time.Now().UnixNano(), Ops: ops}
		res, _, err := n.node.Apply(context.Background(), cmd)
		if err != nil || res.GetCode() != pb.Result_OK {
			b.Fatalf("seed: %v %v", res, err)
		}
		ops = nil
	}
	mk := func(op *pb.Op, err error) {
		if err != nil {
			b.Fatal(err)
		}
		ops = append(ops, op)
		if len(ops) == benchOpsPerCmd {
			flush()
		}
	}
	svcID := func(i int) string { return "svc-" + strconv.Itoa(i) }
	for i := range sc.services {
		op, err := fsm.CreateOp(fsm.KindService, svcID(i), &pb.Service{Name: "scale-svc-" + strconv.Itoa(i),
			RoleAttributes: []string{"s" + strconv.Itoa(i%sc.serviceAttrs)}}, nil)
		mk(op, err)
	}
	for i := range sc.routers {
		op, err := fsm.CreateOp(fsm.KindEdgeRouter, "er-"+strconv.Itoa(i), &pb.EdgeRouter{Name: "scale-er-" + strconv.Itoa(i),
			RoleAttributes: []string{"g" + strconv.Itoa(i%10)}}, nil)
		mk(op, err)
	}
	flush()
	for i := range sc.policies {
		ids := []string{"#r" + strconv.Itoa(i%benchRoleAttrs)}
		if i < 5 {
			ids = []string{"#all"}
		}
		svcs := []string{"#s" + strconv.Itoa((i*7)%sc.serviceAttrs)}
		if i%50 == 0 {
			svcs = append(svcs, "@"+svcID(i))
		}
		op, err := fsm.CreateOp(fsm.KindServicePolicy, "sp-"+strconv.Itoa(i), &pb.ServicePolicy{Name: "scale-sp-" + strconv.Itoa(i),
			Type: []string{"Dial", "Bind"}[i%2], Semantic: "AnyOf", IdentityRoles: ids, ServiceRoles: svcs}, nil)
		mk(op, err)
	}
	for i := range sc.routerPolicies + 1 {
		ids, routers, svcs := []string{"#r" + strconv.Itoa(i%benchRoleAttrs)}, []string{"#g" + strconv.Itoa(i%10)}, []string{"#s" + strconv.Itoa(i%sc.serviceAttrs)}
		if i == sc.routerPolicies {
			ids, routers, svcs = []string{"#all"}, []string{"#all"}, []string{"#all"}
		}
		op, err := fsm.CreateOp(fsm.KindEdgeRouterPolicy, "erp-"+strconv.Itoa(i), &pb.EdgeRouterPolicy{Name: "scale-erp-" + strconv.Itoa(i),
			Semantic: "AnyOf", IdentityRoles: ids, EdgeRouterRoles: routers}, nil)
		mk(op, err)
		op, err = fsm.CreateOp(fsm.KindServiceEdgeRouterPolicy, "serp-"+strconv.Itoa(i), &pb.ServiceEdgeRouterPolicy{Name: "scale-serp-" + strconv.Itoa(i),
			Semantic: "AnyOf", ServiceRoles: svcs, EdgeRouterRoles: routers}, nil)
		mk(op, err)
	}
	flush()
}

// benchPost sends a JSON POST with a zt-session token.
func benchPost(b testing.TB, n *apiNode, path, token string, body any) (int, []byte) {
	b.Helper()
	data, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, n.url+path, bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sessionHeader, token)
	resp, err := n.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// benchPasswordLogin gives identity identityID an updb authenticator,
// written through the cluster, and returns the token of its login.
func benchPasswordLogin(b testing.TB, n *apiNode, identityID, username, password string) string {
	b.Helper()
	hash, err := edge.HashPassword(password)
	if err != nil {
		b.Fatal(err)
	}
	op, err := fsm.CreateOp(fsm.KindAuthenticator, uuid.NewString(), &pb.Authenticator{IdentityId: identityID, Method: "updb", Username: username, PasswordHash: hash}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if res, _, err := n.node.Apply(ctx, &pb.Command{Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{op}}); err != nil || res.GetCode() != pb.Result_OK {
		b.Fatalf("authenticator: %v %v", res, err)
	}
	return benchLoginAs(b, n, username, password)
}

// benchLoginAs logs username in with password and returns the token.
func benchLoginAs(b testing.TB, n *apiNode, username, password string) string {
	b.Helper()
	st, raw := benchPost(b, n, ClientBase+"/authenticate?method=password", "", map[string]string{"username": username, "password": password})
	var r struct {
		Data struct{ Token string } `json:"data"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || st != http.StatusOK || r.Data.Token == "" {
		b.Fatalf("login %s: %d %s", username, st, raw)
	}
	return r.Data.Token
}

// TestPolicyScaleSmoke runs BenchmarkPolicyScale's path at a hundredth of
// its size, so the benchmark's seeding and checks keep working: the seeded
// identity reaches services with permissions, opens a Dial session, a new
// member catches up, and a restarted node serves again.
func TestPolicyScaleSmoke(t *testing.T) {
	sc := policyScale{identities: 1_000, services: 100, serviceAttrs: 40, routers: 10, policies: 20, routerPolicies: 5}
	shortLog := func(c *cluster.Config) { c.TrailingLogs = 16 }
	n, p, dir := startBenchNode(t, "smoke1", shortLog)
	benchSeedIdentities(t, n, sc.identities)
	seedPolicyModel(t, n, sc)
	userID := uuid.NewSHA1(uuid.NameSpaceOID, []byte("bench-000007")).String()
	user := benchPasswordLogin(t, n, userID, "smoke-user", "smoke-password-1")
	status, raw, err := benchGet(n, ClientBase+"/services?limit=500", user)
	var body struct {
		Data []struct {
			ID          string   `json:"id"`
			Permissions []string `json:"permissions"`
		} `json:"data"`
	}
	if err != nil || status != http.StatusOK || json.Unmarshal(raw, &body) != nil || len(body.Data) == 0 {
		t.Fatalf("client services: %d %v %s", status, err, raw)
	}
	dial := ""
	for _, d := range body.Data {
		if len(d.Permissions) == 0 {
			t.Fatalf("a service without permissions: %s", raw)
		}
		if slices.Contains(d.Permissions, "Dial") {
			dial = d.ID
		}
	}
	if st, raw := benchPost(t, n, ClientBase+"/sessions", user, map[string]any{"serviceId": dial}); st != http.StatusCreated {
		t.Fatalf("session: %d %s", st, raw)
	}
	m := growScaleCluster(t, n, p, dir, "smoke", shortLog, user, sc.identities)
	if _, err := m.follower.store.Get(fsm.KindIdentity, userID); err != nil {
		t.Fatalf("the newest member lacks the seeded identity: %v", err)
	}
	for i := range 5 {
		start := time.Now()
		if status, raw, err := benchGet(m.follower, ClientBase+"/services?limit=500", user); err != nil || status != http.StatusOK {
			t.Fatalf("client services on the follower: %d %v %s", status, err, raw)
		}
		t.Logf("follower list %d: %s", i, time.Since(start))
	}
}
