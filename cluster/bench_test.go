package cluster

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	metrics "github.com/armon/go-metrics"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/benchkit"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// BenchmarkApply drives concurrent writers through Node.Apply against a
// real three-node in-process cluster (mutual TLS on loopback, hashicorp/raft
// with BatchApplyCh and MaxAppendEntries 256, raft-boltdb and bbolt on the
// disk that holds the temp dir). Each op is one create-identity command with
// a unique id and name, so every op is a real write that must answer OK.
//
//   - target=leader: every op goes to the leader.
//   - target=spread: op k goes to node k mod 3, so two thirds of the ops are
//     forwarded by a follower to the leader and the follower then waits
//     until it has applied the entry itself (read-your-writes).
//
// Every sub-benchmark gets its own fresh cluster, set up once (outside the
// timer) on its first run and kept for the later runs testing makes while it
// sizes b.N, then shut down. It reports writes/s and p50/p99 latency of one
// Apply in milliseconds; ns/op is wall time divided by ops, i.e. 1/(writes/s).
//
// From raft's own metrics (all three nodes run in this process) it also
// reports how well writes were batched and how hard the disk was driven:
// entries/log-commit is the mean number of entries per raft-boltdb
// StoreLogs call (one bbolt commit, leader and followers alike),
// entries/fsm-batch the mean per FSM ApplyBatch (one bbolt commit of the
// state db), and disk-syncs/s is 2 × (log commits + FSM batches) per second
// over the cluster, since every bbolt commit fdatasyncs twice.
//
//	go test -run '^$' -bench BenchmarkApply -benchtime 10s ./cluster/
func BenchmarkApply(b *testing.B) {
	benchkit.AsTest(b, func(t *testing.T) {
		for _, target := range []string{"leader", "spread"} {
			for _, writers := range []int{1, 16, 64} {
				name := fmt.Sprintf("target=%s/writers=%d", target, writers)
				var bc *benchCluster
				b.Run(name, func(b *testing.B) {
					if bc == nil {
						bc = holdCluster(t, name)
						if bc == nil {
							b.Fatal("cluster setup failed (see the test output above)")
						}
					}
					bc.run(b, target, writers)
				})
				if bc != nil {
					bc.release()
				}
			}
		}
	})
}

// benchCluster is a three-node cluster kept alive by a subtest of the
// bridged test until release.
type benchCluster struct {
	nodes    []*Node
	seq      atomic.Int64 // unique names across the runs of one sub-benchmark
	done     chan struct{}
	finished chan struct{}
}

// holdCluster starts a three-node cluster in a subtest of t, so that the
// helpers' Fatal calls happen on a test goroutine and t.Cleanup shuts the
// nodes down when the subtest ends. It returns nil if setup failed.
func holdCluster(t *testing.T, name string) *benchCluster {
	bc := &benchCluster{done: make(chan struct{}), finished: make(chan struct{})}
	ready := make(chan []*Node, 1)
	go func() {
		defer close(bc.finished)
		t.Run(name, func(t *testing.T) {
			defer close(ready)
			_, nodes := threeNodes(t)
			settle(t, nodes)
			ready <- nodes
			<-bc.done
		})
	}()
	nodes, ok := <-ready
	if !ok {
		<-bc.finished
		return nil
	}
	bc.nodes = nodes
	return bc
}

func (bc *benchCluster) release() {
	close(bc.done)
	<-bc.finished
}

// settle waits until each node has recorded itself in the controllers list
// (three background writes by registerLoop) and every node has applied
// everything, so that the benchmark starts on a quiet cluster.
func settle(t *testing.T, nodes []*Node) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		quiet := true
		var applied uint64
		for i, n := range nodes {
			var count int
			_ = n.Store().View(func(r *fsm.Reader) error { count, _ = r.Count(fsm.KindController); return nil })
			a := n.Store().AppliedIndex()
			if count != len(nodes) || (i > 0 && a != applied) {
				quiet = false
			}
			applied = a
		}
		if quiet {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("cluster did not settle: controllers not recorded or nodes not caught up")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (bc *benchCluster) leader() *Node {
	for _, n := range bc.nodes {
		if n.IsLeader() {
			return n
		}
	}
	return nil
}

// run does b.N Apply calls from writers goroutines.
func (bc *benchCluster) run(b *testing.B, target string, writers int) {
	leader := bc.leader()
	if leader == nil {
		b.Fatal("no leader")
	}
	targets := bc.nodes
	if target == "leader" {
		targets = []*Node{leader}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	counts := countCommits()
	defer counts() // restores the no-op sink if the run fails early
	res := benchkit.Run(b, writers, func(k int64) (time.Duration, error) {
		name := fmt.Sprintf("bench-%d", bc.seq.Add(1))
		op, err := fsm.CreateOp(fsm.KindIdentity, "id-"+name, &pb.Identity{Name: name}, nil)
		if err != nil {
			return 0, err
		}
		cmd := &pb.Command{Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{op}}
		start := time.Now()
		r, _, err := targets[k%int64(len(targets))].Apply(ctx, cmd)
		if err != nil {
			return 0, err
		}
		if r.GetCode() != pb.Result_OK {
			return 0, fmt.Errorf("create %s: %v", name, r)
		}
		return time.Since(start), nil
	})
	if res.Err != nil {
		b.Fatalf("%d of %d writes failed; first: %v", res.Failed, b.N, res.Err)
	}
	if now := bc.leader(); now != leader {
		b.Logf("leadership moved during the run (%s -> %v); the numbers include an election", leader.ID(), now)
	}
	res.Report(b, "writes/s")
	logCommits, logEntries, fsmBatches, fsmEntries := counts()
	if logCommits > 0 && fsmBatches > 0 {
		b.ReportMetric(logEntries/logCommits, "entries/log-commit")
		b.ReportMetric(fsmEntries/fsmBatches, "entries/fsm-batch")
		b.ReportMetric(2*(logCommits+fsmBatches)/res.Elapsed.Seconds(), "disk-syncs/s")
	}
}

// countCommits routes hashicorp/raft's and raft-boltdb's metrics (go-metrics'
// global sink, a no-op by default) to memory until the returned function is
// called, which restores the no-op sink and returns the number of
// raft-boltdb StoreLogs commits and the entries they stored, and the number
// of FSM batches and the entries they applied, summed over every node in
// this process.
func countCommits() func() (logCommits, logEntries, fsmBatches, fsmEntries float64) {
	conf := metrics.DefaultConfig("")
	conf.EnableHostname, conf.EnableRuntimeMetrics = false, false
	sink := metrics.NewInmemSink(time.Hour, 2*time.Hour)
	_, _ = metrics.NewGlobal(conf, sink)
	return func() (float64, float64, float64, float64) {
		_, _ = metrics.NewGlobal(conf, &metrics.BlackholeSink{})
		var lc, le, fb, fe float64
		for _, iv := range sink.Data() {
			if v, ok := iv.Samples["raft.boltdb.logsPerBatch"]; ok {
				lc += float64(v.Count)
				le += v.Sum
			}
			if v, ok := iv.Samples["raft.fsm.applyBatchNum"]; ok {
				fb += float64(v.Count)
				fe += v.Sum
			}
		}
		return lc, le, fb, fe
	}
}
