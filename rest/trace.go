package rest

import (
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Tracing an identity: OpenZiti traces its traffic through the data plane;
// Garrison has none, so a trace is what the controllers see of the
// identity: while it lasts every node logs each API request the identity
// makes at info, with the trace id. It is replicated, so it holds on every
// node whichever one set it.

// Bounds of a trace.
const (
	defaultTraceDuration = 10 * time.Minute
	maxTraceDuration     = 24 * time.Hour
	maxTraceChannels     = 32
)

// traceIdentity answers PUT /identities/{id}/trace.
func (s *Server) traceIdentity(w http.ResponseWriter, r *http.Request) error {
	in, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	enabled, _, aerr := in.Bool("enabled")
	if aerr != nil {
		return aerr
	}
	duration := defaultTraceDuration
	if text, ok, aerr := in.String("duration"); aerr != nil {
		return aerr
	} else if ok {
		d, err := time.ParseDuration(text)
		if err != nil || d <= 0 || d > maxTraceDuration {
			return api.Invalid("duration", "must be a duration such as 10m, at most 24h", text)
		}
		duration = d
	}
	traceID, _, aerr := in.String("traceId")
	if aerr != nil {
		return aerr
	}
	if len(traceID) > 128 || api.BadText(traceID) != "" {
		return api.Invalid("traceId", "must be at most 128 characters without NUL", nil)
	}
	channels, _, aerr := in.Strings("channels")
	if aerr != nil {
		return aerr
	}
	if len(channels) > maxTraceChannels {
		return api.Invalid("channels", "at most 32 channels", nil)
	}
	id := mux.Vars(r)["id"]
	// A retry (the same Idempotency-Key) of a trace that took effect
	// answers the trace stored, not a new traceId and until.
	if retry, aerr := s.rs.Retried(r); retry {
		if aerr != nil {
			return aerr
		}
		return s.writeTrace(w, id, nil)
	}
	if _, err := s.store.Get(fsm.KindIdentity, id); err != nil {
		return api.NotFoundOr(err)
	}
	t := &pb.Identity{}
	if enabled {
		if traceID == "" {
			traceID = uuid.NewString()
		}
		t.TraceUntil, t.TraceId, t.TraceChannels = time.Now().Add(duration).UnixNano(), traceID, channels
	}
	op, err := fsm.PatchOp(fsm.KindIdentity, id, t, nil, "trace_until", "trace_id", "trace_channels")
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.apply(r, op); aerr != nil {
		return aerr
	}
	return s.writeTrace(w, id, t)
}

// writeTrace answers the trace stored on identity id: what a request that
// took effect set, unlike a retry's own traceId and until, and unlike
// those of a retry sent while its first attempt was still being applied
// (its client gave up on the answer), which is deduplicated onto that
// attempt. set is what the request wrote, answered if the identity cannot
// be read after the write (nil: it wrote nothing).
func (s *Server) writeTrace(w http.ResponseWriter, id string, set *pb.Identity) error {
	t := set
	rec, err := s.store.Get(fsm.KindIdentity, id)
	if err == nil {
		if ident, ok := rec.Body.(*pb.Identity); ok {
			t = ident
		} else {
			err = fmt.Errorf("%s %s has a %T body", fsm.KindIdentity, id, rec.Body)
		}
	}
	if t == nil {
		return api.NotFoundOr(err)
	}
	d := map[string]any{"enabled": t.GetTraceUntil() != 0, "traceId": t.GetTraceId()}
	if t.GetTraceUntil() != 0 {
		d["until"] = api.Time(time.Unix(0, t.GetTraceUntil()))
	}
	api.WriteData(w, http.StatusOK, d, api.Meta{})
	return nil
}

// logTraced logs a request of an identity under trace.
func (s *Server) logTraced(r *http.Request, c *caller, now time.Time) {
	if c.ident.GetTraceUntil() > now.UnixNano() {
		s.log.Info("traced request", "traceId", c.ident.GetTraceId(), "identity", c.identity.ID,
			"method", r.Method, "path", r.URL.Path, "requestId", api.RequestID(r))
	}
}
