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
// It fails with ErrNoLeader when no leader answers within LeaderWait.
func (n *Node) ReadBarrier(ctx context.Context) error {
	rp, err := n.reads.do(ctx)
	if err != nil {
		return err
	}
	return n.waitApplied(ctx, rp.point.GetApplied(), rp.point.GetCommit(), rp.leaderID, rp.leaderAddr)
}

// readPoint is one round's answer and who gave it.
type readPoint struct {
	point                *pb.ReadIndexResponse
	leaderID, leaderAddr string
}

// waitApplied waits until the state machine reached index, handing Raft
// the commit point it waits for (commit.go) and again every few
// milliseconds in case the entry had not arrived yet.
func (n *Node) waitApplied(ctx context.Context, index uint64, cp *pb.CommitPoint, leaderID, leaderAddr string) error {
	if n.cfg.Store.AppliedIndex() >= index {
		return nil
	}
	n.learnCommit(cp, leaderID, leaderAddr)
	if cp != nil {
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
					n.learnCommit(cp, leaderID, leaderAddr)
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
	resp := &pb.ReadIndexResponse{}
	if _, err := n.link.call(ctx, addr, linkReadIndex, nil, resp); err != nil {
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

// leaderReadIndex is the leader's answer to a read barrier: after a quorum
// confirmed this node still leads, everything committed so far. A leader
// knows which entries are committed only once an entry of its own term is;
// until then (just after an election) it waits.
func (n *Node) leaderReadIndex(ctx context.Context) (*pb.ReadIndexResponse, error) {
	if err := n.raft.VerifyLeader().Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, errNotLeader
		}
		return nil, fmt.Errorf("%w: verify leadership: %v", ErrNoLeader, err)
	}
	term := n.raft.CurrentTerm()
	for {
		commit := n.raft.CommitIndex()
		var l raft.Log
		if err := n.logs.GetLog(commit, &l); err == nil && l.Term == term {
			return &pb.ReadIndexResponse{Applied: n.lastFSMEntry(commit), Commit: &pb.CommitPoint{Index: commit, Term: l.Term, LeaderTerm: term}}, nil
		}
		if !n.IsLeader() {
			return nil, errNotLeader
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: no entry of term %d committed yet: %v", ErrNoLeader, term, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// lastFSMEntry is the last entry at or before index that reaches the state
// machine: raft keeps no-op and barrier entries to itself, so the state
// machine's applied index never lands on one.
func (n *Node) lastFSMEntry(index uint64) uint64 {
	for i := index; i > 0 && index-i < 64; i-- {
		var l raft.Log
		if err := n.logs.GetLog(i, &l); err != nil {
			return i // compacted: covered by a snapshot
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i
		}
	}
	return index
}

// linkReadIndex serves a follower's read barrier on the leader.
func (n *Node) linkReadIndex(w http.ResponseWriter, r *http.Request) {
	if !n.fromMember(w, r) {
		return
	}
	if !n.IsLeader() {
		writeLinkError(w, http.StatusMisdirectedRequest, codeNotLeader, "this node is not the leader")
		return
	}
	p, err := n.leaderReads.do(r.Context())
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
		b.running = true
		b.next = nil
		go b.run(r)
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

func (b *batch[T]) run(r *batchRound[T]) {
	for r != nil {
		// The round serves many callers: it has its own deadline, not
		// theirs.
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		r.val, r.err = b.fn(ctx)
		cancel()
		close(r.done)
		b.mu.Lock()
		r = b.next
		b.next = nil
		if r == nil {
			b.running = false
		}
		b.mu.Unlock()
	}
}
