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
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// hashicorp/raft tells a follower the commit index only with the leader's
// next AppendEntries that carries entries, or after CommitTimeout (10-20 ms
// here) when nothing new is written. A follower that forwarded a write, or
// that asked the leader for a read index, already holds the leader's word
// that an entry is committed; waiting for raft to repeat it made every
// write through a follower ~7x slower than through the leader.
//
// commitTransport lets the node hand that word to its own Raft at once: it
// passes Raft every RPC of the network transport, plus AppendEntries
// requests the node builds from a CommitPoint. Such a request carries no
// entries; Raft checks it like any other (the term, and that its own log
// holds the entry at the committed index with the same term — by the Log
// Matching Property the logs then agree up to it) before it advances its
// commit index, so it can only commit what the leader committed.

// commitTransport is the network transport with a side door for commit
// points.
type commitTransport struct {
	*raft.NetworkTransport
	rpcs chan raft.RPC
	stop chan struct{}
	// sent is the highest commit index handed to Raft, so that many
	// waiters for one write send one request.
	sent atomic.Uint64
}

func newCommitTransport(t *raft.NetworkTransport) *commitTransport {
	ct := &commitTransport{NetworkTransport: t, rpcs: make(chan raft.RPC), stop: make(chan struct{})}
	go func() {
		in := t.Consumer()
		for {
			select {
			case rpc := <-in:
				select {
				case ct.rpcs <- rpc:
				case <-ct.stop:
					return
				}
			case <-ct.stop:
				return
			}
		}
	}()
	return ct
}

// Consumer implements raft.Transport.
func (t *commitTransport) Consumer() <-chan raft.RPC { return t.rpcs }

// Close implements raft.WithClose.
func (t *commitTransport) Close() error {
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	return t.NetworkTransport.Close()
}

// commitPoint is what the leader vouches for after it applied the entry at
// index: committed, with the term the entry has in its log.
func (n *Node) commitPoint(index uint64) *pb.CommitPoint {
	var l raft.Log
	if err := n.logs.GetLog(index, &l); err != nil {
		return nil
	}
	return &pb.CommitPoint{Index: index, Term: l.Term, LeaderTerm: n.raft.CurrentTerm()}
}

// learnCommit hands Raft a commit point from leader (id, address), if this
// node is a follower that has the entry but does not know it is committed
// yet. It does nothing otherwise: Raft's own replication then delivers the
// entry and the commit index as before, only later.
func (n *Node) learnCommit(cp *pb.CommitPoint, leaderID, leaderAddr string) {
	if cp == nil || cp.GetIndex() == 0 || leaderID == "" || n.IsLeader() || n.raft.CommitIndex() >= cp.GetIndex() {
		return
	}
	if n.trans.sent.Load() >= cp.GetIndex() {
		return
	}
	// Only an entry this node holds with the leader's term can be
	// committed here; checking first keeps Raft from logging a mismatch
	// for an entry that is simply still on its way.
	var l raft.Log
	if err := n.logs.GetLog(cp.GetIndex(), &l); err != nil || l.Term != cp.GetTerm() {
		return
	}
	for {
		prev := n.trans.sent.Load()
		if prev >= cp.GetIndex() {
			return
		}
		if n.trans.sent.CompareAndSwap(prev, cp.GetIndex()) {
			break
		}
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
	rpc := raft.RPC{Command: req, RespChan: make(chan raft.RPCResponse, 1)}
	select {
	case n.trans.rpcs <- rpc:
	case <-n.trans.stop:
	case <-time.After(100 * time.Millisecond):
		// Raft is busy (installing a snapshot, say); its own replication
		// will get there.
	}
}

// pushFSM is the state machine as Raft sees it on this node: before the
// leader applies a batch (which takes a disk sync), it tells the followers
// that forwarded writes now in flight that the batch is committed, so they
// apply it while the leader does instead of after its answer reached them.
type pushFSM struct {
	*fsm.Store
	n *Node
}

// ApplyBatch implements raft.BatchingFSM.
func (f pushFSM) ApplyBatch(logs []*raft.Log) []interface{} {
	if len(logs) > 0 && f.n.forwarders.waiting() {
		last := logs[len(logs)-1]
		f.n.forwarders.publish(&pb.CommitPoint{Index: last.Index, Term: last.Term, LeaderTerm: f.n.raft.CurrentTerm()})
	}
	return f.Store.ApplyBatch(logs)
}

// forwarders tracks, on the leader, which followers have forwarded writes
// in flight, and pushes them the latest commit point.
type forwarders struct {
	mu      sync.Mutex
	count   map[string]int // follower id → writes in flight
	latest  *pb.CommitPoint
	pending atomic.Bool
	signal  chan struct{}
}

func newForwarders() *forwarders {
	return &forwarders{count: map[string]int{}, signal: make(chan struct{}, 1)}
}

func (f *forwarders) add(id string, delta int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.count[id] += delta; f.count[id] <= 0 {
		delete(f.count, id)
	}
	f.pending.Store(len(f.count) > 0)
}

func (f *forwarders) waiting() bool { return f.pending.Load() }

func (f *forwarders) publish(cp *pb.CommitPoint) {
	f.mu.Lock()
	f.latest = cp
	f.mu.Unlock()
	select {
	case f.signal <- struct{}{}:
	default:
	}
}

// take returns the latest commit point and the followers waiting for it.
func (f *forwarders) take() (*pb.CommitPoint, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := f.latest
	f.latest = nil
	ids := make([]string, 0, len(f.count))
	for id := range f.count {
		ids = append(ids, id)
	}
	return cp, ids
}

// pushLoop sends commit points to waiting followers, one push per
// follower at a time; points published meanwhile collapse into the latest.
func (n *Node) pushLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case <-n.forwarders.signal:
		}
		cp, ids := n.forwarders.take()
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
		n.learnCommit(cp, id, addr)
	}
	writeLinkProto(w, &pb.LinkError{})
}
