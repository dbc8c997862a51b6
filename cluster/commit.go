package cluster

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/metrics"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// hashicorp/raft tells a follower the commit index only with the leader's
// next AppendEntries that carries entries, or after CommitTimeout (10-20 ms
// here) when nothing new is written. A follower that forwarded a write, or
// that asked the leader for a read index, already holds the leader's word
// that an entry is committed; waiting for raft to repeat it made every
// write through a follower ~7x slower than through the leader.
//
// learnCommit hands that word to the node's own Raft at once, as an
// AppendEntries request without entries sent to its own Raft listener
// (the node's certificate names a member, so it is admitted like a peer).
// Raft checks it like any other — the term, and that its own log holds the
// entry at the committed index with the same term, so that by the Log
// Matching Property the logs agree up to it — before it advances its commit
// index: it can only commit what the leader committed.

// commitPoint is what the leader vouches for after it applied the entry at
// index, which it appended itself as leader (Node.applyLocal): committed,
// with its term, which is also the term in which this node led.
func (n *Node) commitPoint(index uint64) *pb.CommitPoint {
	var l raft.Log
	if err := n.logs.GetLog(index, &l); err != nil {
		return nil
	}
	return &pb.CommitPoint{Index: index, Term: l.Term, LeaderTerm: l.Term}
}

// learnCommit hands Raft a commit point from leader (id, address), if this
// node is a follower that has the entry but does not know it is committed
// yet. It does nothing otherwise: Raft's own replication then delivers the
// entry and the commit index as before, only later. Unless urgent, it also
// leaves it to Raft when later entries have arrived already: writes are
// flowing, and each AppendEntries carries the commit index, so under load
// the extra request would only cost.
func (n *Node) learnCommit(cp *pb.CommitPoint, leaderID, leaderAddr string, urgent bool) {
	if cp == nil || cp.GetIndex() == 0 || leaderID == "" || n.IsLeader() || n.raft.CommitIndex() >= cp.GetIndex() {
		return
	}
	if !urgent && n.raft.LastIndex() > cp.GetIndex() {
		return
	}
	if n.commitSent.Load() >= cp.GetIndex() {
		return
	}
	// Only an entry this node holds with the leader's term can be
	// committed here; checking first keeps Raft from logging a mismatch
	// for an entry that is simply still on its way.
	var l raft.Log
	if err := n.logs.GetLog(cp.GetIndex(), &l); err != nil || l.Term != cp.GetTerm() {
		return
	}
	prev := n.commitSent.Load()
	for {
		if prev >= cp.GetIndex() {
			return
		}
		if n.commitSent.CompareAndSwap(prev, cp.GetIndex()) {
			break
		}
		prev = n.commitSent.Load()
	}
	req := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{
			ProtocolVersion: raft.ProtocolVersionMax,
			ID:              []byte(leaderID),
			Addr:            n.trans.EncodePeer(raft.ServerID(leaderID), raft.ServerAddress(leaderAddr)),
		},
		Term:              cp.GetLeaderTerm(),
		PrevLogEntry:      cp.GetIndex(),
		PrevLogTerm:       cp.GetTerm(),
		LeaderCommitIndex: cp.GetIndex(),
	}
	// On its own goroutine: a busy Raft (or the transport's 10 s timeout)
	// must not hold up the request that waits; it keeps waiting for the
	// state machine either way.
	go func() {
		var resp raft.AppendEntriesResponse
		err := n.trans.AppendEntries(raft.ServerID(n.cfg.ID), raft.ServerAddress(n.cfg.AdvertiseAddress), req, &resp)
		if err != nil || !resp.Success {
			// Let a later attempt (the 2 ms retry of a waiter) try again;
			// Raft's own replication gets there in any case.
			n.commitSent.CompareAndSwap(cp.GetIndex(), prev)
			n.log.Debug("hand commit point to raft", "index", cp.GetIndex(), "success", resp.Success, "err", err)
		}
	}()
}

// pushFSM is the state machine as Raft sees it on this node: before the
// leader applies a batch (which takes a disk sync), it tells the followers
// that serve clients that the batch is committed, so they apply it while
// the leader does, instead of when the leader's answer to a forwarded write
// or the next read barrier reaches them.
type pushFSM struct {
	*fsm.Store
	n *Node
}

// ApplyBatch implements raft.BatchingFSM. While newer entries follow the
// batch, writes are flowing and the AppendEntries that carry them carry the
// commit index too: only the last batch of a burst is pushed.
func (f pushFSM) ApplyBatch(logs []*raft.Log) []interface{} {
	if len(logs) > 0 && f.n.active.any() {
		if last := logs[len(logs)-1]; f.n.raft.LastIndex() == last.Index {
			// A commit point names a term in which its sender led: the
			// term read on both sides of the leadership check.
			term := f.n.raft.CurrentTerm()
			if f.n.IsLeader() && f.n.raft.CurrentTerm() == term {
				f.n.active.publish(&pb.CommitPoint{Index: last.Index, Term: last.Term, LeaderTerm: term})
			}
		}
	}
	start := time.Now()
	out := f.Store.ApplyBatch(logs)
	f.n.cfg.Metrics.ObserveApplyBatch(len(logs), time.Since(start))
	return out
}

// Snapshot times the persisting of each Raft snapshot and measures it.
func (f pushFSM) Snapshot() (raft.FSMSnapshot, error) {
	snap, err := f.Store.Snapshot()
	if err != nil {
		return nil, err
	}
	return timedSnapshot{FSMSnapshot: snap, m: f.n.cfg.Metrics}, nil
}

type timedSnapshot struct {
	raft.FSMSnapshot
	m *metrics.Metrics
}

func (t timedSnapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	counted := &countingSink{SnapshotSink: sink}
	err := t.FSMSnapshot.Persist(counted)
	if err == nil {
		t.m.ObserveSnapshot(counted.n, time.Since(start))
	}
	return err
}

type countingSink struct {
	raft.SnapshotSink
	n int64
}

func (c *countingSink) Write(p []byte) (int, error) {
	n, err := c.SnapshotSink.Write(p)
	c.n += int64(n)
	return n, err
}

// activeWindow is how long a follower counts as serving clients after its
// last forwarded write or read barrier.
const activeWindow = time.Second

// activeFollowers tracks, on the leader, the followers that serve clients
// (they forwarded a write or asked for a read index lately), and pushes
// them the latest commit point. Idle followers cost nothing: they learn
// commits from Raft as before.
type activeFollowers struct {
	mu     sync.Mutex
	seen   map[string]time.Time
	last   atomic.Int64 // unix nanoseconds of the latest activity
	latest *pb.CommitPoint
	signal chan struct{}
}

func newActiveFollowers() *activeFollowers {
	return &activeFollowers{seen: map[string]time.Time{}, signal: make(chan struct{}, 1)}
}

// touch records that follower id served a client just now.
func (a *activeFollowers) touch(id string) {
	if id == "" {
		return
	}
	now := time.Now()
	a.mu.Lock()
	a.seen[id] = now
	a.mu.Unlock()
	a.last.Store(now.UnixNano())
}

func (a *activeFollowers) any() bool {
	return time.Since(time.Unix(0, a.last.Load())) < activeWindow
}

func (a *activeFollowers) publish(cp *pb.CommitPoint) {
	a.mu.Lock()
	a.latest = cp
	a.mu.Unlock()
	select {
	case a.signal <- struct{}{}:
	default:
	}
}

// take returns the latest commit point and the followers active now.
func (a *activeFollowers) take() (*pb.CommitPoint, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cp := a.latest
	a.latest = nil
	var ids []string
	for id, at := range a.seen {
		if time.Since(at) < activeWindow {
			ids = append(ids, id)
		} else {
			delete(a.seen, id)
		}
	}
	return cp, ids
}

// pushLoop sends commit points to active followers, one push per
// follower at a time; points published meanwhile collapse into the latest.
func (n *Node) pushLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case <-n.active.signal:
		}
		cp, ids := n.active.take()
		if cp == nil || len(ids) == 0 {
			continue
		}
		servers, err := n.configuration()
		if err != nil {
			continue
		}
		var wg sync.WaitGroup
		for _, s := range servers {
			if !slices.Contains(ids, string(s.ID)) {
				continue
			}
			wg.Add(1)
			go func(addr string) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				// Best effort: a lost push only means the follower learns
				// the commit from the leader's answer or from Raft.
				_, _ = n.link.call(ctx, addr, linkCommit, cp, nil)
			}(string(s.Address))
		}
		wg.Wait()
	}
}

// linkCommit receives a commit point pushed by the leader.
func (n *Node) linkLearnCommit(w http.ResponseWriter, r *http.Request) {
	peer, ok := n.cfg.TLS.peerID(r.TLS)
	cp := &pb.CommitPoint{}
	if !ok || readLinkBody(r, cp) != nil {
		writeLinkError(w, http.StatusBadRequest, codeBadRequest, "undecodable commit point")
		return
	}
	if id, addr := n.Leader(); id == peer {
		n.learnCommit(cp, id, addr, false)
	}
	writeLinkProto(w, &pb.LinkError{})
}
