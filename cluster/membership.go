package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/buildinfo"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// membershipTimeout bounds a Raft configuration change.
const membershipTimeout = 30 * time.Second

// AddMember adds the node listening at address (host:port or tls:host:port)
// as a voter or non-voter. The leader dials it and takes its id from its
// certificate, so a node cannot join under another's name.
func (n *Node) AddMember(ctx context.Context, address string, voter bool) error {
	return n.membership(ctx, &pb.MembershipRequest{Op: pb.MembershipRequest_ADD, Address: stripScheme(address), Voter: voter})
}

// RemoveMember removes a member and its entry in the controllers list.
func (n *Node) RemoveMember(ctx context.Context, id string) error {
	return n.membership(ctx, &pb.MembershipRequest{Op: pb.MembershipRequest_REMOVE, Id: id})
}

// TransferLeadership hands leadership to id, or to any voter if id is empty.
func (n *Node) TransferLeadership(ctx context.Context, id string) error {
	return n.membership(ctx, &pb.MembershipRequest{Op: pb.MembershipRequest_TRANSFER_LEADERSHIP, Id: id})
}

// membership runs req on the leader, forwarding it when this node is not.
func (n *Node) membership(ctx context.Context, req *pb.MembershipRequest) error {
	retryUntil := time.Now().Add(n.cfg.LeaderWait)
	for {
		var err error
		if n.IsLeader() {
			err = n.membershipLocal(ctx, req)
		} else if _, addr := n.Leader(); addr == "" {
			err = ErrNoLeader
		} else {
			_, err = n.link.call(ctx, addr, linkMembership, req, nil)
			if err != nil && !retryable(err) {
				return fromRemote(err)
			}
		}
		if err == nil || !retryable(err) {
			return err
		}
		if time.Now().After(retryUntil) {
			return fmt.Errorf("%w: %v", ErrNoLeader, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrNoLeader, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (n *Node) membershipLocal(ctx context.Context, req *pb.MembershipRequest) error {
	servers, err := n.configuration()
	if err != nil {
		return err
	}
	find := func(id string) *raft.Server {
		for i := range servers {
			if string(servers[i].ID) == id {
				return &servers[i]
			}
		}
		return nil
	}
	switch req.GetOp() {
	case pb.MembershipRequest_ADD:
		if req.GetAddress() == "" {
			return fmt.Errorf("%w: address is required", ErrInvalid)
		}
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		id, info, err := n.Info(dctx, req.GetAddress())
		if err != nil {
			return fmt.Errorf("%w: cannot reach a controller at %s: %v", ErrInvalid, req.GetAddress(), err)
		}
		if s := find(id); s != nil && string(s.Address) == req.GetAddress() && (s.Suffrage == raft.Voter) == req.GetVoter() {
			return nil
		}
		// A node with a history of its own (initialised on its own, or a
		// removed member) would keep state Raft cannot reconcile: its
		// state machine skips indexes it believes it has applied.
		if find(id) == nil && (info.GetAppliedIndex() > 0 || (info.GetLeaderId() != "" && info.GetLeaderId() != n.cfg.ID)) {
			return fmt.Errorf("%w: the node at %s (%s) already has cluster state (applied index %d); stop it, empty its data directory and start it again before adding it",
				ErrInvalid, req.GetAddress(), id, info.GetAppliedIndex())
		}
		var f raft.IndexFuture
		if req.GetVoter() {
			f = n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(req.GetAddress()), 0, membershipTimeout)
		} else {
			f = n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(req.GetAddress()), 0, membershipTimeout)
		}
		if err := raftErr(f.Error(), "add member "+id); err != nil {
			return err
		}
		n.log.Info("member added", "member", id, "address", req.GetAddress(), "voter", req.GetVoter())
		return nil
	case pb.MembershipRequest_REMOVE:
		if find(req.GetId()) == nil {
			return fmt.Errorf("%w: %q", ErrNotFound, req.GetId())
		}
		if s := find(req.GetId()); s.Suffrage == raft.Voter && voters(servers) < 2 {
			return fmt.Errorf("%w: %s is the last voter; a cluster needs at least one", ErrInvalid, req.GetId())
		}
		// The member's self-description goes first, while this node surely
		// is leader (it may be removing itself). Should the removal then
		// fail, the member re-records itself: it re-registers whenever its
		// record is missing while it is a member.
		cmd := &pb.Command{Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{{Kind: &pb.Op_Delete{Delete: &pb.Delete{
			Type: fsm.KindController, Id: req.GetId(), SkipMissing: true}}}}}
		if _, _, err := n.applyLocal(ctx, cmd); err != nil {
			return err
		}
		if err := raftErr(n.raft.RemoveServer(raft.ServerID(req.GetId()), 0, membershipTimeout).Error(), "remove member"); err != nil {
			return err
		}
		n.log.Info("member removed", "member", req.GetId())
		return nil
	case pb.MembershipRequest_TRANSFER_LEADERSHIP:
		if req.GetId() == "" {
			if voters(servers) < 2 {
				return fmt.Errorf("%w: there is no other voter to hand leadership to", ErrInvalid)
			}
			return raftErr(n.raft.LeadershipTransfer().Error(), "transfer leadership")
		}
		s := find(req.GetId())
		if s == nil {
			return fmt.Errorf("%w: %q", ErrNotFound, req.GetId())
		}
		if s.Suffrage != raft.Voter {
			return fmt.Errorf("%w: %s is not a voter", ErrInvalid, req.GetId())
		}
		if req.GetId() == n.cfg.ID {
			return nil
		}
		return raftErr(n.raft.LeadershipTransferToServer(s.ID, s.Address).Error(), "transfer leadership")
	}
	return fmt.Errorf("%w: unknown membership op %v", ErrInvalid, req.GetOp())
}

func voters(servers []raft.Server) int {
	n := 0
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			n++
		}
	}
	return n
}

func raftErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return errNotLeader
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w: %s: %v", ErrUnknownOutcome, what, err)
	case strings.Contains(err.Error(), "timeout"):
		// e.g. transferring leadership to a voter that is down.
		return fmt.Errorf("%w: %s: %v", ErrUnknownOutcome, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Member is one Raft member as seen from this node.
type Member struct {
	ID      string
	Address string
	Voter   bool
	Leader  bool
	// Connected: this node has heard from the member recently (always true
	// for the node itself).
	Connected    bool
	Version      string
	LastContact  time.Time
	AppliedIndex uint64
	Self         bool
}

// onlineWindow is how recent a successful probe must be to call a peer online.
const onlineWindow = 3 * time.Second

// Members lists the Raft configuration with what this node knows of each.
func (n *Node) Members() ([]Member, error) {
	servers, err := n.configuration()
	if err != nil {
		return nil, err
	}
	leaderID, _ := n.Leader()
	out := make([]Member, 0, len(servers))
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	for _, s := range servers {
		m := Member{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter, Leader: string(s.ID) == leaderID}
		if m.ID == n.cfg.ID {
			m.Self, m.Connected, m.Version, m.LastContact = true, true, buildinfo.Version, time.Now()
			m.AppliedIndex = n.cfg.Store.AppliedIndex()
		} else if p := n.peers[m.ID]; p != nil {
			m.Connected = time.Since(p.lastContact) < onlineWindow
			m.Version, m.LastContact, m.AppliedIndex = p.version, p.lastContact, p.applied
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Online reports whether member id answered a probe recently.
func (n *Node) Online(id string) bool {
	if id == n.cfg.ID {
		return true
	}
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	p := n.peers[id]
	return p != nil && time.Since(p.lastContact) < onlineWindow
}

// probeLoop asks every other member for its info once a second, which is
// what Members and Online report.
func (n *Node) probeLoop() {
	defer n.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		servers, err := n.configuration()
		if err != nil {
			continue
		}
		done := make(chan struct{}, len(servers))
		for _, s := range servers {
			if string(s.ID) == n.cfg.ID {
				done <- struct{}{}
				continue
			}
			go func(s raft.Server) {
				defer func() { done <- struct{}{} }()
				ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
				defer cancel()
				id, info, err := n.Info(ctx, string(s.Address))
				if err != nil || id != string(s.ID) {
					return
				}
				n.peersMu.Lock()
				n.peers[id] = &peerStatus{lastContact: time.Now(), version: info.GetVersion(), applied: info.GetAppliedIndex()}
				n.peersMu.Unlock()
			}(s)
		}
		for range servers {
			<-done
		}
	}
}
