package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

type testCA struct {
	root  *pki.CA
	inter *pki.CA
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	root, err := pki.NewRootCA("test root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediateCA("test intermediate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{root: root, inter: inter}
}

func (ca *testCA) tlsConfig(t *testing.T, name string) TLSConfig {
	t.Helper()
	certPEM, keyPEM, err := ca.inter.IssueNodeCert(pki.NodeCertRequest{Name: name, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return TLSConfig{Cert: cert, Roots: pki.NewCertPool(ca.root.Cert)}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startNode(t *testing.T, ca *testCA, name, dir string) *Node {
	t.Helper()
	return startNodeWith(t, ca, name, dir, nil)
}

// startNodeWith is startNode with a chance to change the configuration.
func startNodeWith(t *testing.T, ca *testCA, name, dir string, edit func(*Config)) *Node {
	t.Helper()
	store, err := fsm.Open(filepath.Join(dir, "state.db"), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		ID: name, DataDir: dir, BindAddress: "127.0.0.1:0", TLS: ca.tlsConfig(t, name), Store: store,
		Log: quietLog(), RaftLogOutput: io.Discard,
		HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
		Self: func() *pb.Controller { return &pb.Controller{CtrlAddress: "tls:" + name} },
	}
	if edit != nil {
		edit(&cfg)
	}
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown(); store.Close() })
	return n
}

func createIdentity(t *testing.T, name string) *pb.Command {
	t.Helper()
	op, err := fsm.CreateOp(fsm.KindIdentity, "id-"+name, &pb.Identity{Name: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.Command{Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{op}}
}

// threeNodes forms a cluster of three in-process nodes over real TLS.
func threeNodes(t *testing.T) (*testCA, []*Node) {
	t.Helper()
	ca := newTestCA(t)
	var nodes []*Node
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, startNode(t, ca, fmt.Sprintf("n%d", i), t.TempDir()))
	}
	formCluster(t, nodes)
	return ca, nodes
}

// formCluster bootstraps nodes[0] and adds the other two as voters.
func formCluster(t *testing.T, nodes []*Node) {
	t.Helper()
	if err := nodes[0].Bootstrap(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := nodes[0].WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	// Adding through a follower-to-be exercises forwarding of membership
	// requests; the second add goes straight to the leader.
	if err := nodes[0].AddMember(ctx, "tls:"+nodes[1].Address(), true); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].AddMember(ctx, nodes[2].Address(), true); err != nil {
		t.Fatal(err)
	}
}

func follower(nodes []*Node) *Node {
	for _, n := range nodes {
		if !n.IsLeader() {
			return n
		}
	}
	return nil
}

func TestForwardedWriteIsReadableOnFollowerAtOnce(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f := follower(nodes)
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("user-%d", i)
		res, index, err := f.Apply(ctx, createIdentity(t, name))
		if err != nil || res.GetCode() != pb.Result_OK {
			t.Fatalf("apply via follower: %v %v", res, err)
		}
		if index == 0 {
			t.Fatal("no index returned")
		}
		if _, err := f.Store().Get(fsm.KindIdentity, "id-"+name); err != nil {
			t.Fatalf("write not readable on the follower that answered: %v", err)
		}
	}
	// A constraint violation comes back as a typed result through forwarding.
	res, _, err := f.Apply(ctx, createIdentity(t, "user-3"))
	if err != nil || res.GetCode() != pb.Result_CONFLICT {
		t.Fatalf("duplicate via follower: %v %v", res, err)
	}
	// A command the leader's state machine does not understand is refused
	// before it is proposed: committed, it would stop every node like it.
	unknownKind := &pb.Command{Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{fsm.DeleteOp("no-such-kind", "x")}}
	if _, _, err := f.Apply(ctx, unknownKind); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown kind via follower: want ErrInvalid, got %v", err)
	}
	if res, _, err := f.Apply(ctx, createIdentity(t, "after-refusal")); err != nil || res.GetCode() != pb.Result_OK {
		t.Fatalf("write after the refused command: %v %v", res, err)
	}
	// Every node converges.
	deadline := time.Now().Add(5 * time.Second)
	for _, n := range nodes {
		for {
			_, err := n.Store().Get(fsm.KindIdentity, "id-user-19")
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never applied the writes: %v", n.ID(), err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Each node recorded itself.
	deadline = time.Now().Add(10 * time.Second)
	for {
		var count int
		_ = f.Store().View(func(r *fsm.Reader) error { count, _ = r.Count(fsm.KindController); return nil })
		if count == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("controllers recorded: %d, want 3", count)
		}
		time.Sleep(50 * time.Millisecond)
	}
	members, err := f.Members()
	if err != nil || len(members) != 3 {
		t.Fatalf("members %v %v", members, err)
	}
	leaders := 0
	for _, m := range members {
		if m.Leader {
			leaders++
		}
		if !m.Voter {
			t.Fatalf("member %s is not a voter", m.ID)
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders in %v", leaders, members)
	}
}

func TestNoLeaderFailsWithErrNoLeader(t *testing.T) {
	ca := newTestCA(t)
	n := startNode(t, ca, "lonely", t.TempDir())
	n.cfg.LeaderWait = 300 * time.Millisecond
	_, _, err := n.Apply(context.Background(), createIdentity(t, "x"))
	if !errors.Is(err, ErrNoLeader) {
		t.Fatalf("want ErrNoLeader, got %v", err)
	}
}

func TestForeignCAPeerIsRefused(t *testing.T) {
	ca, nodes := threeNodes(t)
	leaderID, leaderAddr := nodes[0].Leader()
	if leaderID == "" {
		t.Fatal("no leader")
	}
	// A node with a certificate from another CA cannot join...
	other := newTestCA(t)
	intruder := startNode(t, other, "intruder", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := nodes[0].AddMember(ctx, intruder.Address(), true); err == nil || !errors.Is(err, ErrInvalid) {
		t.Fatalf("adding a foreign-CA node: want ErrInvalid, got %v", err)
	}
	// ...nor forward a write to the leader.
	if _, err := intruder.link.call(ctx, leaderAddr, linkApply, createIdentity(t, "evil"), &pb.ApplyResponse{}); err == nil {
		t.Fatal("leader accepted a forwarded write from a foreign-CA peer")
	}
	if _, err := nodes[0].Store().Get(fsm.KindIdentity, "id-evil"); !errors.Is(err, fsm.ErrNotFound) {
		t.Fatalf("foreign write landed: %v", err)
	}
	// A controller of the right CA that is not a member cannot write either.
	outsider := startNode(t, ca, "outsider", t.TempDir())
	_, err := outsider.link.call(ctx, leaderAddr, linkApply, createIdentity(t, "sneaky"), &pb.ApplyResponse{})
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != "NOT_A_MEMBER" {
		t.Fatalf("non-member forwarded write: want NOT_A_MEMBER, got %v", err)
	}
	members, _ := nodes[0].Members()
	if len(members) != 3 {
		t.Fatalf("membership changed: %v", members)
	}
}

// hashicorp/raft trusts the server id an RPC claims, so the cluster port
// must not let a non-member's certificate reach Raft at all.
func TestRaftPortRefusesNonMembers(t *testing.T) {
	ca, nodes := threeNodes(t)
	_, leaderAddr := nodes[0].Leader()
	outsider := startNode(t, ca, "outsider", t.TempDir())
	// A node that has joined nothing admits anyone (its first leader), so
	// give the outsider a configuration of its own.
	if err := outsider.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	readErr := func(from *Node) error {
		layer := &raftLayer{tls: from.cfg.TLS}
		conn, err := layer.Dial(raft.ServerAddress(leaderAddr), 3*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		_, err = conn.Read(make([]byte, 1))
		return err
	}
	if err := readErr(outsider); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("non-member's Raft connection was kept open: %v", err)
	}
	// Control: a member's connection stays open (the read times out).
	if err := readErr(follower(nodes)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("member's Raft connection: want a read timeout, got %v", err)
	}
}

// Adding a node that already has state of its own would leave it diverged
// forever; the leader refuses.
func TestAddMemberRefusesNodeWithState(t *testing.T) {
	ca, nodes := threeNodes(t)
	stray := startNode(t, ca, "stray", t.TempDir())
	if err := stray.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := stray.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if res, _, err := stray.Apply(ctx, createIdentity(t, "stray-admin")); err != nil || res.GetCode() != pb.Result_OK {
		t.Fatalf("stray write: %v %v", res, err)
	}
	err := nodes[0].AddMember(ctx, stray.Address(), true)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("adding a node with its own state: want ErrInvalid, got %v", err)
	}
	if m, _ := nodes[0].Members(); len(m) != 3 {
		t.Fatalf("membership changed: %v", m)
	}
}

// After Snapshot compacts the leader's log, a new member cannot replay it
// from the start: it is sent the snapshot, and then reads what was written.
func TestMemberJoiningAfterCompactionInstallsSnapshot(t *testing.T) {
	ca := newTestCA(t)
	small := func(c *Config) { c.TrailingLogs = 2 }
	leader := startNodeWith(t, ca, "s1", t.TempDir(), small)
	if err := leader.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := leader.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if res, _, err := leader.Apply(ctx, createIdentity(t, fmt.Sprintf("before-%d", i))); err != nil || res.GetCode() != pb.Result_OK {
			t.Fatalf("write %d: %v %v", i, res, err)
		}
	}
	if err := leader.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := leader.Snapshot(ctx); err != nil {
		t.Fatalf("a second snapshot with nothing new: %v", err)
	}
	if first, err := leader.logs.FirstIndex(); err != nil || first <= 1 {
		t.Fatalf("the log was not compacted: first index %d, %v", first, err)
	}
	joiner := startNodeWith(t, ca, "s2", t.TempDir(), small)
	if err := leader.AddMember(ctx, joiner.Address(), true); err != nil {
		t.Fatal(err)
	}
	if err := joiner.ReadBarrier(ctx); err != nil {
		t.Fatalf("the new member's barrier: %v", err)
	}
	if idx := joiner.raft.Stats()["last_snapshot_index"]; idx == "0" || idx == "" {
		t.Fatalf("the new member holds no installed snapshot (last_snapshot_index %q)", idx)
	}
	if err := joiner.Store().View(func(r *fsm.Reader) error {
		_, err := r.Lookup(fsm.IdentityName, "before-0")
		return err
	}); err != nil {
		t.Fatalf("the snapshot's first write on the new member: %v", err)
	}
}

// A node shuts down promptly while its writes wait for a leader: the
// waits end with the node (the fault harness once saw a stop take over
// 15 s, its registration's write still waiting).
func TestShutdownEndsWaitingWrites(t *testing.T) {
	ca := newTestCA(t)
	n := startNode(t, ca, "lonely", t.TempDir()) // never bootstrapped: no leader
	done := make(chan time.Time, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _, _ = n.Apply(ctx, &pb.Command{DedupId: "waiting", Timestamp: 1})
		done <- time.Now()
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := n.Shutdown(); err != nil {
		t.Logf("shutdown: %v", err)
	}
	select {
	case ended := <-done:
		if d := ended.Sub(start); d > 2*time.Second {
			t.Fatalf("the waiting write ended %s after shutdown", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting write outlived the node by 5 s")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
}
