package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// ReadBarrier returns once this node's state holds every write that was
// acknowledged, by any node, before ReadBarrier was called: a read that
// follows it is linearizable. The node learns the leader's commit index
// (the leader first confirming with a quorum that it still leads) and waits
// until it has applied that far. Concurrent callers share one round trip.
// It fails with ErrNoLeader when no leader answers within LeaderWait, and
// with ErrBehind when this node has not caught up LeaderWait later.
func (n *Node) ReadBarrier(ctx context.Context) (err error) {
	start := time.Now()
	defer func() { n.cfg.Metrics.ObserveReadBarrier(err, time.Since(start)) }()
	rp, err := n.reads.do(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, n.cfg.LeaderWait)
	defer cancel()
	if err := n.waitApplied(wctx, rp.point.GetApplied(), rp.point.GetCommit(), rp.leaderID, rp.leaderAddr); err != nil {
		return fmt.Errorf("%w: %v", ErrBehind, err)
	}
	return nil
}

// ErrBehind: this node could not apply what the leader had committed in
// time (cut off from the leader after it asked, or far behind).
var ErrBehind = errors.New("this node has not caught up with the leader")

// readPoint is one round's answer and who gave it.
type readPoint struct {
	point                *pb.ReadIndexResponse
	leaderID, leaderAddr string
}

// waitApplied waits until the state machine reached index, handing Raft
// the commit point it waits for (commit.go), and again every 2 ms in case
// the entry had not arrived yet or Raft was left to deliver it itself.
func (n *Node) waitApplied(ctx context.Context, index uint64, cp *pb.CommitPoint, leaderID, leaderAddr string) error {
	if n.cfg.Store.AppliedIndex() >= index {
		return nil
	}
	if cp != nil && !n.IsLeader() {
		n.learnCommit(cp, leaderID, leaderAddr, false)
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			t := time.NewTicker(2 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-wctx.Done():
					return
				case <-t.C:
					n.learnCommit(cp, leaderID, leaderAddr, true)
				}
			}
		}()
	}
	return n.cfg.Store.WaitApplied(ctx, index)
}

// readRound asks the leader for a read index, waiting for a leader for up
// to LeaderWait.
func (n *Node) readRound(ctx context.Context) (readPoint, error) {
	retryUntil := time.Now().Add(n.cfg.LeaderWait)
	for {
		rp, err := n.readIndexOnce(ctx)
		if err == nil {
			return rp, nil
		}
		if !retryable(err) && !errors.Is(err, errNotLeader) {
			return readPoint{}, err
		}
		if time.Now().After(retryUntil) {
			return readPoint{}, fmt.Errorf("%w: %v", ErrNoLeader, err)
		}
		select {
		case <-ctx.Done():
			return readPoint{}, fmt.Errorf("%w: %v", ErrNoLeader, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (n *Node) readIndexOnce(ctx context.Context) (readPoint, error) {
	if n.IsLeader() {
		p, err := n.leaderReads.do(ctx)
		return readPoint{point: p}, err
	}
	id, addr := n.Leader()
	if addr == "" {
		return readPoint{}, ErrNoLeader
	}
	resp, err := n.link.readIndex(ctx, addr, n.raft.CurrentTerm())
	if err != nil {
		var le *linkErr
		if errors.As(err, &le) {
			// A read barrier changes nothing: retrying it is always safe.
			le.beforeSend = true
			return readPoint{}, le
		}
		return readPoint{}, fromRemote(err)
	}
	return readPoint{point: resp, leaderID: id, leaderAddr: addr}, nil
}

// readIndex asks the leader at addr for a read index. A leader running an
// older build (during a rolling upgrade, which upgrades followers first)
// has no read-index endpoint: then the barrier is the leader's applied
// index, which it reports in its node info. That misses only what a leader
// deposed without knowing it acknowledged, and only until the leader is
// upgraded too.
func (c *linkClient) readIndex(ctx context.Context, addr string, term uint64) (*pb.ReadIndexResponse, error) {
	resp := &pb.ReadIndexResponse{}
	_, err := c.call(ctx, addr, linkReadIndex, &pb.ReadIndexRequest{Term: term}, resp)
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != codeUnsupported {
		return resp, err
	}
	info := &pb.NodeInfo{}
	if _, err := c.call(ctx, addr, linkInfo, nil, info); err != nil {
		return nil, err
	}
	if info.GetState() != raft.Leader.String() {
		return nil, errNotLeader
	}
	return &pb.ReadIndexResponse{Applied: info.GetAppliedIndex()}, nil
}

// leaderReadIndex is the leader's answer to a read barrier: after a quorum
// confirmed this node still leads, everything committed so far.
func (n *Node) leaderReadIndex(ctx context.Context) (*pb.ReadIndexResponse, error) {
	if err := n.raft.VerifyLeader().Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, errNotLeader
		}
		return nil, fmt.Errorf("%w: verify leadership: %v", ErrNoLeader, err)
	}
	return n.committedPoint(ctx, n.raft.CurrentTerm())
}

// committedPoint is everything this leader of term has committed. A leader
// knows which entries are committed only once an entry of its own term is;
// until then (just after an election) it waits. It fails if this node no
// longer leads in term once it has read the commit index: then it led when
// it read it, as a node never leads a term again once it has left it.
func (n *Node) committedPoint(ctx context.Context, term uint64) (*pb.ReadIndexResponse, error) {
	for {
		commit := n.raft.CommitIndex()
		var l raft.Log
		err := n.logs.GetLog(commit, &l)
		if !n.IsLeader() || n.raft.CurrentTerm() != term {
			return nil, errNotLeader
		}
		if err == nil && l.Term == term {
			applied, ok := n.lastFSMEntry(commit)
			if !ok {
				// Rarely: raft's barrier returns once the state machine
				// has applied everything before it, commit included.
				timeout := time.Second
				if dl, has := ctx.Deadline(); has {
					timeout = time.Until(dl)
				}
				if err := n.raft.Barrier(timeout).Error(); err != nil {
					return nil, fmt.Errorf("%w: barrier: %v", ErrNoLeader, err)
				}
				applied = n.cfg.Store.AppliedIndex()
			}
			return &pb.ReadIndexResponse{Applied: applied, Commit: &pb.CommitPoint{Index: commit, Term: l.Term, LeaderTerm: term}}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: no entry of term %d committed yet: %v", ErrNoLeader, term, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// voucherSuffices reports whether a read-index request from voter peer,
// which was in this leader's term when the read began, confirms this
// node's leadership without a heartbeat round. It does when the leader and
// the peer make a quorum (both voters, at most three): a newer leader that acknowledged
// a write before the read began would need the vote of one of them before
// then, but the peer was still in this term when the read began, and this
// node still leads this term now, so neither had voted for anyone newer.
// Writes a newer leader acknowledged after the read began may be missed,
// which linearizability allows: they are concurrent with the read.
func (n *Node) voucherSuffices(peer string, peerTerm uint64) bool {
	if peerTerm == 0 || peerTerm != n.raft.CurrentTerm() {
		return false
	}
	servers, err := n.configuration()
	if err != nil {
		return false
	}
	voters, peerVotes, selfVotes := 0, false, false
	for _, s := range servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		switch string(s.ID) {
		case peer:
			peerVotes = true
		case n.cfg.ID:
			selfVotes = true
		}
	}
	// Both must be voters of the latest configuration, which has at most
	// three: raft changes one server at a time, so every quorum of the
	// configuration before it contains one of them too. (A leader being
	// removed is not a voter of the latest one; the others could elect a
	// leader without it.)
	return peerVotes && selfVotes && voters <= 3
}

// lastFSMEntry is the last entry at or before index that reaches the state
// machine: raft keeps no-op and barrier entries to itself, so the state
// machine's applied index never lands on one (a restored snapshot carries
// the state machine's own index, not raft's). It reports false when it
// cannot tell: the entries before index are compacted, or more than a log
// cache's worth of them in a row are no-ops.
func (n *Node) lastFSMEntry(index uint64) (uint64, bool) {
	for i := index; i > 0 && index-i < 1024; i-- {
		var l raft.Log
		if err := n.logs.GetLog(i, &l); err != nil {
			return 0, false
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i, true
		}
	}
	return 0, index == 0
}

// linkReadIndex serves a follower's read barrier on the leader.
func (n *Node) linkReadIndex(w http.ResponseWriter, r *http.Request) {
	if !n.fromMember(w, r) {
		return
	}
	req := &pb.ReadIndexRequest{}
	if err := readLinkBody(r, req); err != nil {
		writeLinkError(w, http.StatusBadRequest, codeBadRequest, "undecodable read-index request: "+err.Error())
		return
	}
	if !n.IsLeader() {
		writeLinkError(w, http.StatusMisdirectedRequest, codeNotLeader, "this node is not the leader")
		return
	}
	var p *pb.ReadIndexResponse
	var err error
	peer, _ := n.cfg.TLS.peerID(r.TLS)
	n.active.touch(peer)
	if n.voucherSuffices(peer, req.GetTerm()) {
		p, err = n.committedPoint(r.Context(), req.GetTerm())
	} else {
		p, err = n.leaderReads.do(r.Context())
	}
	if err != nil {
		if errors.Is(err, errNotLeader) {
			writeLinkError(w, http.StatusMisdirectedRequest, codeNotLeader, "this node is not the leader")
			return
		}
		writeLinkFailure(w, err)
		return
	}
	writeLinkProto(w, p)
}

// batch makes concurrent callers share one run of fn. A caller that comes
// while a run is in flight waits for the next run, not the current one:
// the current one may have fixed its answer before the caller came.
type batch[T any] struct {
	fn      func(context.Context) (T, error)
	timeout time.Duration

	mu      sync.Mutex
	running bool
	next    *batchRound[T]
}

type batchRound[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func newBatch[T any](timeout time.Duration, fn func(context.Context) (T, error)) *batch[T] {
	return &batch[T]{fn: fn, timeout: timeout}
}

func (b *batch[T]) do(ctx context.Context) (T, error) {
	b.mu.Lock()
	r := b.next
	if r == nil {
		r = &batchRound[T]{done: make(chan struct{})}
		b.next = r
	}
	if !b.running {
		// Nothing in flight: run the round on this goroutine, which saves
		// a hand-off on the path of a lone caller.
		b.running = true
		b.next = nil
		b.mu.Unlock()
		// Callers that come now join the next round, so this one is this
		// caller's alone and may run under its context.
		b.run(ctx, r)
		return r.val, r.err
	}
	b.mu.Unlock()
	select {
	case <-r.done:
		return r.val, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("%w: %v", ErrNoLeader, ctx.Err())
	}
}

// run runs round r, then hands the next round, if callers came meanwhile,
// to a new goroutine.
func (b *batch[T]) run(ctx context.Context, r *batchRound[T]) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	r.val, r.err = b.fn(ctx)
	cancel()
	close(r.done)
	b.mu.Lock()
	next := b.next
	b.next = nil
	if next == nil {
		b.running = false
	}
	b.mu.Unlock()
	if next != nil {
		// The next round serves many callers: its own deadline, not theirs.
		go b.run(context.Background(), next)
	}
}
