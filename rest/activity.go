package rest

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// maxOpsPerCommand bounds one bookkeeping command so a large backlog is
// replicated in several modest log entries rather than one huge one.
const maxOpsPerCommand = 256

// activityFlushInterval is how often a node replicates the last use of the
// sessions it served: never more than a quarter of the idle timeout, so
// other nodes never expire a session that is in use here.
func (s *Server) activityFlushInterval() time.Duration {
	return min(s.cfg.SessionTimeout/4, 5*time.Second)
}

// RunSessionMaintenance replicates session activity in batches and, on the
// leader, deletes sessions idle past their timeout. It returns when ctx ends.
func (s *Server) RunSessionMaintenance(ctx context.Context) {
	flush := time.NewTicker(s.activityFlushInterval())
	defer flush.Stop()
	sweep := time.NewTicker(max(s.cfg.SessionTimeout/10, time.Second))
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			s.flushActivity(ctx)
		case <-sweep.C:
			if s.node.IsLeader() {
				s.sweepExpired(ctx)
			}
		}
	}
}

// flushActivity writes the last use of every session this node served since
// the previous flush: one Raft command per flush, not one per request.
func (s *Server) flushActivity(ctx context.Context) {
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
				s.log.Error("encode session activity", "err", err)
				return
			}
			ops = append(ops, &pb.Op{Kind: &pb.Op_Patch{Patch: &pb.Patch{
				Entity: e, Fields: []string{"last_activity_at"}, KeepUpdatedAt: true, SkipMissing: true,
			}}})
		}
		if aerr := s.applyBackground(ctx, "activity", ops); aerr != nil {
			s.log.Warn("replicating session activity failed; will retry", "sessions", len(ops), "err", aerr)
			return
		}
		for _, p := range part {
			// A use recorded after this flush began stays for the next one.
			s.activity.CompareAndDelete(p.id, p.at)
		}
	}
}

// sweepExpired deletes sessions idle past their timeout. The margin covers
// activity other nodes have seen but not yet replicated.
func (s *Server) sweepExpired(ctx context.Context) {
	margin := 2 * s.activityFlushInterval()
	now := time.Now()
	var ops []*pb.Op
	_ = s.store.View(func(rd *fsm.Reader) error {
		return rd.ForEach(fsm.KindApiSession, func(rec *fsm.Record) error {
			sess, _ := fsm.As[*pb.ApiSession](rec)
			if now.After(expiresAt(sess).Add(margin)) {
				ops = append(ops, &pb.Op{Kind: &pb.Op_Delete{Delete: &pb.Delete{Type: fsm.KindApiSession, Id: rec.ID, SkipMissing: true}}})
			}
			return nil
		})
	})
	for start := 0; start < len(ops); start += maxOpsPerCommand {
		part := ops[start:min(start+maxOpsPerCommand, len(ops))]
		if aerr := s.applyBackground(ctx, "sweep", part); aerr != nil {
			s.log.Warn("deleting expired sessions failed; will retry", "err", aerr)
			return
		}
		s.log.Info("deleted expired API sessions", "count", len(part))
	}
}

// applyBackground replicates ops that no HTTP request waits for.
func (s *Server) applyBackground(ctx context.Context, what string, ops []*pb.Op) *api.Error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/internal/"+what, nil)
	if err != nil {
		return api.Unhandled(err)
	}
	req = req.WithContext(api.WithID(req.Context(), what+"-"+uuid.NewString()))
	return s.apply(req, ops...)
}
