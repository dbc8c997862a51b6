package edge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Applier replicates a command and returns its result once applied on this
// node; *cluster.Node is one.
type Applier interface {
	Apply(ctx context.Context, cmd *pb.Command) (*pb.Result, uint64, error)
	IsLeader() bool
}

// TokenHash is what the store indexes sessions by; the token itself is
// never stored.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ExpiresAt is when a session ends unless it is used again.
func ExpiresAt(sess *pb.ApiSession) time.Time {
	return time.Unix(0, sess.GetLastActivityAt()).Add(time.Duration(sess.GetExpirationSeconds()) * time.Second).UTC()
}

// IsDisabled reports whether the identity may not log in or use sessions now.
func IsDisabled(ident *pb.Identity, now time.Time) bool {
	if !ident.GetDisabled() {
		return false
	}
	return ident.GetDisabledUntil() == 0 || now.UnixNano() < ident.GetDisabledUntil()
}

// maxOpsPerCommand bounds one bookkeeping command so a large backlog is
// replicated in several modest log entries rather than one huge one.
const maxOpsPerCommand = 256

// Sessions keeps API session bookkeeping off the write path: using a
// session is not a Raft write. Each use is noted in memory (Touch) and the
// last uses are replicated in batches; the leader deletes sessions idle
// past their timeout.
type Sessions struct {
	Node  Applier
	Store *fsm.Store
	// Timeout ends sessions idle for longer.
	Timeout time.Duration
	// WriteTimeout bounds one replicated bookkeeping write.
	WriteTimeout time.Duration
	Log          *slog.Logger

	// activity: session id -> last use seen by this node (unix nanos).
	activity sync.Map
}

// Touch notes a use of the session now.
func (s *Sessions) Touch(id string, now time.Time) { s.activity.Store(id, now.UnixNano()) }

// LastUse is this node's own record of the session's last use, which may be
// newer than the replicated one (refreshed only every few seconds).
func (s *Sessions) LastUse(id string) (int64, bool) {
	v, ok := s.activity.Load(id)
	if !ok {
		return 0, false
	}
	return v.(int64), true
}

// FlushInterval is how often a node replicates the last use of the sessions
// it served: never more than a quarter of the idle timeout, so other nodes
// never expire a session that is in use here.
func (s *Sessions) FlushInterval() time.Duration {
	return min(s.Timeout/4, 5*time.Second)
}

// Run replicates session activity in batches and, on the leader, deletes
// sessions idle past their timeout. It returns when ctx ends.
func (s *Sessions) Run(ctx context.Context) {
	flush := time.NewTicker(s.FlushInterval())
	defer flush.Stop()
	sweep := time.NewTicker(max(s.Timeout/10, time.Second))
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			s.Flush(ctx)
		case <-sweep.C:
			if s.Node.IsLeader() {
				s.Sweep(ctx)
			}
		}
	}
}

// Flush writes the last use of every session this node served since the
// previous flush: one Raft command per flush, not one per request.
func (s *Sessions) Flush(ctx context.Context) {
	type pending struct {
		id string
		at int64
	}
	var batch []pending
	s.activity.Range(func(k, v any) bool {
		batch = append(batch, pending{k.(string), v.(int64)})
		return true
	})
	for start := 0; start < len(batch); start += maxOpsPerCommand {
		part := batch[start:min(start+maxOpsPerCommand, len(batch))]
		ops := make([]*pb.Op, 0, len(part))
		for _, p := range part {
			e, err := fsm.NewEntity(fsm.KindApiSession, p.id, &pb.ApiSession{LastActivityAt: p.at}, nil)
			if err != nil {
				s.Log.Error("encode session activity", "err", err)
				return
			}
			ops = append(ops, &pb.Op{Kind: &pb.Op_Patch{Patch: &pb.Patch{
				Entity: e, Fields: []string{"last_activity_at"}, KeepUpdatedAt: true, SkipMissing: true,
			}}})
		}
		if err := s.apply(ctx, "activity", ops); err != nil {
			s.Log.Warn("replicating session activity failed; will retry", "sessions", len(ops), "err", err)
			return
		}
		for _, p := range part {
			// A use recorded after this flush began stays for the next one.
			s.activity.CompareAndDelete(p.id, p.at)
		}
	}
}

// Sweep deletes sessions idle past their timeout. The margin covers
// activity other nodes have seen but not yet replicated.
func (s *Sessions) Sweep(ctx context.Context) {
	margin := 2 * s.FlushInterval()
	now := time.Now()
	var ops []*pb.Op
	_ = s.Store.View(func(rd *fsm.Reader) error {
		return rd.ForEach(fsm.KindApiSession, func(rec *fsm.Record) error {
			sess, _ := fsm.As[*pb.ApiSession](rec)
			if now.After(ExpiresAt(sess).Add(margin)) {
				ops = append(ops, &pb.Op{Kind: &pb.Op_Delete{Delete: &pb.Delete{Type: fsm.KindApiSession, Id: rec.ID, SkipMissing: true}}})
			}
			return nil
		})
	})
	for start := 0; start < len(ops); start += maxOpsPerCommand {
		part := ops[start:min(start+maxOpsPerCommand, len(ops))]
		if err := s.apply(ctx, "sweep", part); err != nil {
			s.Log.Warn("deleting expired sessions failed; will retry", "err", err)
			return
		}
		s.Log.Info("deleted expired API sessions", "count", len(part))
	}
}

// apply replicates bookkeeping ops that no HTTP request waits for.
func (s *Sessions) apply(ctx context.Context, what string, ops []*pb.Op) error {
	ctx, cancel := context.WithTimeout(ctx, s.WriteTimeout)
	defer cancel()
	cmd := &pb.Command{RequestId: what + "-" + uuid.NewString(), Timestamp: time.Now().UnixNano(), Ops: ops}
	res, _, err := s.Node.Apply(ctx, cmd)
	if err != nil {
		return err
	}
	if res.GetCode() != pb.Result_OK {
		return fmt.Errorf("%s: %s", res.GetCode(), res.GetMessage())
	}
	return nil
}
