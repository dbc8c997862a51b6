package cluster

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// registerLoop records this node in the replicated controllers list once
// per process start (that is its "last joined" time), and again whenever
// the record is missing or out of date while the node is a member, for
// example after it was removed and added back.
func (n *Node) registerLoop() {
	defer n.wg.Done()
	if n.cfg.Self == nil {
		return
	}
	joined := false
	for {
		select {
		case <-n.stop:
			return
		case <-time.After(500 * time.Millisecond):
		}
		if lid, _ := n.Leader(); lid == "" || !n.isMember(n.cfg.ID) {
			continue
		}
		want := n.cfg.Self()
		want.Name = n.cfg.ID
		current, exists := n.storedSelf()
		if joined && exists && sameController(current, want) {
			continue
		}
		want.LastJoinedAt = time.Now().UnixNano()
		if joined && exists {
			want.LastJoinedAt = current.GetLastJoinedAt()
		}
		build := fsm.CreateOp
		if exists {
			build = fsm.UpdateOp
		}
		op, err := build(fsm.KindController, n.cfg.ID, want, nil)
		if err != nil {
			n.log.Error("encode controller record", "err", err)
			continue
		}
		ctx, cancel := context.WithTimeout(n.life, 10*time.Second)
		res, _, err := n.Apply(ctx, &pb.Command{RequestId: "register-" + n.cfg.ID, Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{op}})
		cancel()
		if err != nil || res.GetCode() != pb.Result_OK {
			n.log.Debug("recording this controller failed; will retry", "err", err, "result", res)
			continue
		}
		if !joined {
			n.log.Info("recorded this controller in the cluster state", "id", n.cfg.ID)
		}
		joined = true
	}
}

func (n *Node) storedSelf() (*pb.Controller, bool) {
	rec, err := n.cfg.Store.Get(fsm.KindController, n.cfg.ID)
	if err != nil {
		return nil, false
	}
	c, ok := fsm.As[*pb.Controller](rec)
	return c, ok
}

// sameController compares everything but the join time.
func sameController(a, b *pb.Controller) bool {
	x, y := proto.Clone(a).(*pb.Controller), proto.Clone(b).(*pb.Controller)
	x.LastJoinedAt, y.LastJoinedAt = 0, 0
	return proto.Equal(x, y)
}
