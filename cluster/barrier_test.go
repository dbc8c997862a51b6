package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// A write acknowledged by any node is visible on every other node after
// its read barrier, at once: no retries, for every ordered pair.
func TestReadBarrierSeesWritesAcknowledgedElsewhere(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k := 0
	for _, writer := range nodes {
		for _, reader := range nodes {
			if writer == reader {
				continue
			}
			for range 10 {
				k++
				name := fmt.Sprintf("rb-%d", k)
				if res, _, err := writer.Apply(ctx, createIdentity(t, name)); err != nil || res.GetCode() != pb.Result_OK {
					t.Fatalf("write through %s: %v %v", writer.ID(), res, err)
				}
				if err := reader.ReadBarrier(ctx); err != nil {
					t.Fatalf("read barrier on %s: %v", reader.ID(), err)
				}
				if _, err := reader.Store().Get(fsm.KindIdentity, "id-"+name); err != nil {
					t.Fatalf("write through %s not visible on %s after its barrier: %v", writer.ID(), reader.ID(), err)
				}
			}
		}
	}
}

// Without the commit points a follower learns of a commit only after the
// leader's CommitTimeout (10-20 ms when idle); with them a forwarded write
// and a barrier after another node's write finish well before that. The
// bound is loose (a loaded CI machine), but it cannot pass if followers
// waited for CommitTimeout every time.
func TestFollowersLearnCommitsWithoutWaitingForRaft(t *testing.T) {
	_, nodes := threeNodes(t)
	settle(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var leader *Node
	for _, n := range nodes {
		if n.IsLeader() {
			leader = n
		}
	}
	f := follower(nodes)
	const rounds = 40
	start := time.Now()
	for i := range rounds {
		if _, _, err := f.Apply(ctx, createIdentity(t, fmt.Sprintf("fw-%d", i))); err != nil {
			t.Fatal(err)
		}
		if _, _, err := leader.Apply(ctx, createIdentity(t, fmt.Sprintf("ld-%d", i))); err != nil {
			t.Fatal(err)
		}
		if err := f.ReadBarrier(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Each round would wait at least CommitTimeout (10 ms) twice.
	if per := time.Since(start) / rounds; per >= 20*time.Millisecond {
		t.Fatalf("a round of forwarded write + leader write + follower barrier took %s: followers wait for Raft's commit timeout", per)
	}
}

// Callers that arrive while a round is running share the next round; no
// caller is answered by a round that started before it arrived.
func TestBatchNeverAnswersWithAnEarlierRound(t *testing.T) {
	var runs atomic.Int64
	release := make(chan struct{})
	b := newBatch(5*time.Second, func(ctx context.Context) (int64, error) {
		n := runs.Add(1)
		if n == 1 {
			<-release
		}
		return n, nil
	})
	ctx := context.Background()
	first := make(chan int64)
	go func() {
		v, _ := b.do(ctx)
		first <- v
	}()
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// Round 1 is running: these ten must all get round 2.
	var wg sync.WaitGroup
	got := make([]int64, 10)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = b.do(ctx)
		}()
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if v := <-first; v != 1 {
		t.Fatalf("first caller got round %d", v)
	}
	for i, v := range got {
		if v != 2 {
			t.Fatalf("caller %d, which came during round 1, got round %d", i, v)
		}
	}
	if runs.Load() != 2 {
		t.Fatalf("%d rounds for two waves of callers", runs.Load())
	}
	// Callers whose context ends stop waiting, whether they run the round
	// or wait for another caller's.
	block := newBatch(5*time.Second, func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() })
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := block.do(cctx)
			errs <- err
		}()
	}
	start := time.Now()
	for range 2 {
		if err := <-errs; !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrNoLeader) {
			t.Fatalf("cancelled caller: %v", err)
		}
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("a cancelled caller waited for the round's own deadline")
	}
}

// After the leader stops, a barrier on a survivor waits for the new leader
// and then sees every write the old leader acknowledged.
func TestReadBarrierAcrossLeaderChange(t *testing.T) {
	_, nodes := threeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var leader *Node
	var others []*Node
	for _, n := range nodes {
		if n.IsLeader() {
			leader = n
		} else {
			others = append(others, n)
		}
	}
	for i := range 20 {
		if res, _, err := leader.Apply(ctx, createIdentity(t, fmt.Sprintf("lc-%d", i))); err != nil || res.GetCode() != pb.Result_OK {
			t.Fatalf("write: %v %v", res, err)
		}
	}
	if err := leader.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, n := range others {
		// Until a new leader is elected the barrier fails with ErrNoLeader
		// (after LeaderWait); it never answers without one.
		for {
			err := n.ReadBarrier(ctx)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrNoLeader) || ctx.Err() != nil {
				t.Fatalf("barrier on %s after the leader stopped: %v", n.ID(), err)
			}
		}
		for i := range 20 {
			if _, err := n.Store().Get(fsm.KindIdentity, fmt.Sprintf("id-lc-%d", i)); err != nil {
				t.Fatalf("%s lacks a write the old leader acknowledged: %v", n.ID(), err)
			}
		}
	}
}

// A leader of an older build has no read-index endpoint: the barrier falls
// back to its applied index from its node info instead of failing every
// read on upgraded followers until the leader is upgraded too.
func TestReadIndexFromOlderLeader(t *testing.T) {
	ca := newTestCA(t)
	srvTLS := ca.tlsConfig(t, "old-leader")
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+linkInfo, func(w http.ResponseWriter, r *http.Request) {
		writeLinkProto(w, &pb.NodeInfo{Id: "old-leader", AppliedIndex: 42, State: "Leader"})
	})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvTLS.server())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	client := newLinkClient(ca.tlsConfig(t, "new-follower"))
	got, err := client.readIndex(context.Background(), ln.Addr().String(), 3)
	if err != nil {
		t.Fatalf("read index from an older leader: %v", err)
	}
	if got.GetApplied() != 42 || got.GetCommit() != nil {
		t.Fatalf("got %v, want the leader's applied index 42 and no commit point", got)
	}
	// Other failures are not papered over.
	mux.HandleFunc("POST "+linkReadIndex, func(w http.ResponseWriter, r *http.Request) {
		writeLinkError(w, http.StatusMisdirectedRequest, codeNotLeader, "not the leader")
	})
	var re *RemoteError
	if _, err := client.readIndex(context.Background(), ln.Addr().String(), 3); !errors.As(err, &re) || re.Code != codeNotLeader {
		t.Fatalf("NOT_LEADER from the peer: %v", err)
	}
}

// The leader skips the heartbeat round only for a voting member of its
// own term in a configuration of at most three voters.
func TestVoucherSuffices(t *testing.T) {
	_, nodes := threeNodes(t)
	var leader *Node
	for _, n := range nodes {
		if n.IsLeader() {
			leader = n
		}
	}
	f := follower(nodes)
	term := leader.raft.CurrentTerm()
	if !leader.voucherSuffices(f.ID(), term) {
		t.Fatal("a voting follower of the leader's term does not vouch")
	}
	for what, c := range map[string]struct {
		peer string
		term uint64
	}{
		"older term": {f.ID(), term - 1}, "newer term": {f.ID(), term + 1}, "no term": {f.ID(), 0},
		"not a member": {"stranger", term}, "the leader itself": {leader.ID(), term},
	} {
		if leader.voucherSuffices(c.peer, c.term) {
			t.Errorf("%s vouches", what)
		}
	}
}
