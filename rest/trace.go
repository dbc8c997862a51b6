package rest

import (
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
	if _, err := s.store.Get(fsm.KindIdentity, id); err != nil {
		return api.NotFoundOr(err)
	}
	t := &pb.Identity{}
	var until time.Time
	if enabled {
		if traceID == "" {
			traceID = uuid.NewString()
		}
		until = time.Now().Add(duration)
		t.TraceUntil, t.TraceId, t.TraceChannels = until.UnixNano(), traceID, channels
	} else {
		traceID = ""
	}
	op, err := fsm.PatchOp(fsm.KindIdentity, id, t, nil, "trace_until", "trace_id", "trace_channels")
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.apply(r, op); aerr != nil {
		return aerr
	}
	d := map[string]any{"enabled": enabled, "traceId": traceID}
	if enabled {
		d["until"] = api.Time(until)
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
