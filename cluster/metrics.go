package cluster

import (
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/garrison-ctrl/garrison/fsm"
)

// watchLeader counts and logs the leader changes this node sees.
func (n *Node) watchLeader() {
	defer n.wg.Done()
	ch := make(chan raft.Observation, 8)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(obs)
	defer n.raft.DeregisterObserver(obs)
	for {
		select {
		case <-n.stop:
			return
		case o := <-ch:
			n.cfg.Metrics.LeaderChanged()
			if lo, ok := o.Data.(raft.LeaderObservation); ok {
				n.log.Info("leader changed", "leader", string(lo.LeaderID), "leaderAddress", string(lo.LeaderAddr))
			}
		}
	}
}

// registerMetrics registers the gauges read from Raft and the peers at
// every scrape.
func (n *Node) registerMetrics() {
	m := n.cfg.Metrics
	if m == nil {
		return
	}
	stat := func(name string) func() float64 {
		return func() float64 {
			v, _ := strconv.ParseFloat(n.raft.Stats()[name], 64)
			return v
		}
	}
	m.GaugeVec("garrison_raft_state", "1 for this node's Raft state (Leader, Follower, Candidate, Shutdown).", "state", func() map[string]float64 {
		out := map[string]float64{}
		for _, st := range []raft.RaftState{raft.Leader, raft.Follower, raft.Candidate, raft.Shutdown} {
			out[st.String()] = 0
		}
		out[n.raft.State().String()] = 1
		return out
	})
	m.Gauge("garrison_raft_term", "The current Raft term.", stat("term"))
	m.Gauge("garrison_raft_commit_index", "The highest log index known committed.", stat("commit_index"))
	m.Gauge("garrison_raft_last_log_index", "The last index in this node's log.", stat("last_log_index"))
	m.Gauge("garrison_raft_applied_index", "The last index applied to the state.", func() float64 { return float64(n.cfg.Store.AppliedIndex()) })
	m.Gauge("garrison_raft_fsm_pending", "Committed entries waiting to be applied.", stat("fsm_pending"))
	m.Gauge("garrison_raft_last_contact_seconds", "On a follower, seconds since the leader was last heard from; 0 on the leader, -1 if never.", func() float64 {
		switch lc := n.raft.LastContact(); {
		case n.IsLeader():
			return 0
		case lc.IsZero():
			return -1
		default:
			return time.Since(lc).Seconds()
		}
	})
	m.GaugeVec("garrison_cluster_peer_last_contact_seconds", "Seconds since each other member last answered this node's probe.", "peer", func() map[string]float64 {
		n.peersMu.Lock()
		defer n.peersMu.Unlock()
		out := map[string]float64{}
		for id, p := range n.peers {
			out[id] = time.Since(p.lastContact).Seconds()
		}
		return out
	})
	db := func(f func(fsm.DBStats) float64) func() float64 {
		return func() float64 { return f(n.cfg.Store.Stats()) }
	}
	m.Gauge("garrison_bbolt_file_bytes", "Size of the state database file.", db(func(s fsm.DBStats) float64 { return float64(s.FileBytes) }))
	m.Gauge("garrison_bbolt_open_read_transactions", "Read transactions open on the state database.", db(func(s fsm.DBStats) float64 { return float64(s.OpenReadTxs) }))
	m.Counter("garrison_bbolt_read_transactions_total", "Read transactions started on the state database.", db(func(s fsm.DBStats) float64 { return float64(s.ReadTxs) }))
	m.Counter("garrison_bbolt_write_seconds_total", "Time commits spent writing pages to disk.", db(func(s fsm.DBStats) float64 { return s.WriteTime.Seconds() }))
	m.Counter("garrison_bbolt_spill_seconds_total", "Time commits spent splitting nodes.", db(func(s fsm.DBStats) float64 { return s.SpillTime.Seconds() }))
	m.Counter("garrison_bbolt_rebalance_seconds_total", "Time commits spent rebalancing nodes.", db(func(s fsm.DBStats) float64 { return s.RebalanceTime.Seconds() }))
	m.Counter("garrison_bbolt_page_writes_total", "Pages written by commits.", db(func(s fsm.DBStats) float64 { return float64(s.Writes) }))
	m.Gauge("garrison_cluster_members", "Members (voters and non-voters) in the Raft configuration.", func() float64 {
		servers, _ := n.configuration()
		return float64(len(servers))
	})
}
