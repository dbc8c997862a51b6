package cluster

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// MaxReadyLag is how many entries a node may have applied fewer than the
// leader (as the leader last told this node's probe) and still be ready.
const MaxReadyLag = 1000

// Readiness says whether a node should receive clients' requests, and why
// not.
type Readiness struct {
	Ready bool
	// Member: this node is a voter or non-voter of the configuration.
	Member bool
	// Leader is the leader this node knows ("" for none); LeaderContact
	// is how long since a follower heard from it.
	Leader        string
	LeaderContact time.Duration
	// Applied is this node's applied index, LeaderApplied the leader's as
	// its last probe answer said (this node's own on the leader).
	Applied, LeaderApplied uint64
	// Reason says why the node is not ready.
	Reason string
}

// Readiness checks what a load balancer needs before it sends this node
// requests: it is a member, it knows a leader it heard from lately (a
// partitioned or removed node does not), and it has applied within
// MaxReadyLag entries of the leader. A node failing these would answer
// 503 to every request that needs the cluster.
func (n *Node) Readiness() Readiness {
	r := Readiness{Applied: n.cfg.Store.AppliedIndex()}
	r.Member = n.isMember(n.cfg.ID)
	leaderID, leaderAddr := n.Leader()
	if leaderAddr != "" {
		r.Leader = leaderID
	}
	switch {
	case n.IsLeader():
		r.LeaderApplied = r.Applied
	case r.Leader != "":
		r.LeaderContact = time.Since(n.raft.LastContact())
		n.peersMu.Lock()
		if p := n.peers[leaderID]; p != nil {
			r.LeaderApplied = p.applied
		}
		n.peersMu.Unlock()
	}
	contactLimit := 3 * n.heartbeatTimeout()
	switch {
	case !r.Member:
		r.Reason = "not a member of the cluster"
	case r.Leader == "":
		r.Reason = "no leader known"
	case !n.IsLeader() && r.LeaderContact > contactLimit:
		r.Reason = fmt.Sprintf("no word from leader %s for %s", r.Leader, r.LeaderContact.Round(time.Millisecond))
	case r.LeaderApplied > r.Applied+MaxReadyLag:
		r.Reason = fmt.Sprintf("%d entries behind the leader", r.LeaderApplied-r.Applied)
	default:
		r.Ready = true
	}
	return r
}

func (n *Node) heartbeatTimeout() time.Duration {
	if n.cfg.HeartbeatTimeout > 0 {
		return n.cfg.HeartbeatTimeout
	}
	return raft.DefaultConfig().HeartbeatTimeout
}
