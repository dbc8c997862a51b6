package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// postureResponse answers the client's POST /posture-response: the caller
// reports one part of its posture (typeId OS, MAC, DOMAIN or PROCESS), kept
// in its API session's posture data, replicated, so every node evaluates
// its checks alike. The answer lists no services: no check here times out.
func (s *Server) postureResponse(w http.ResponseWriter, r *http.Request) error {
	in, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	return s.savePosture(w, r, []api.Object{in}, http.StatusCreated)
}

// postureResponseBulk answers POST /posture-response-bulk: an array of them.
func (s *Server) postureResponseBulk(w http.ResponseWriter, r *http.Request) error {
	data, aerr := api.ReadBody(r, api.MaxBody)
	if aerr != nil {
		return aerr
	}
	if aerr := api.CheckJSON(data); aerr != nil {
		return aerr
	}
	var items []api.Object
	if err := json.Unmarshal(data, &items); err != nil {
		return api.BadBody(fmt.Errorf("the body must be an array of posture responses: %v", err))
	}
	if len(items) > 100 {
		return api.Invalid("responses", "at most 100 per request", nil)
	}
	// The spec documents 200 here, 201 for a single response.
	return s.savePosture(w, r, items, http.StatusOK)
}

// maxProcesses bounds the processes posture data keeps.
const maxProcesses = 100

// savePosture merges items into the caller's API session's posture data,
// all or none, in one replicated write, and answers with status.
func (s *Server) savePosture(w http.ResponseWriter, r *http.Request, items []api.Object, status int) error {
	c := callerOf(r)
	var op *pb.Op
	err := s.store.View(func(rd *fsm.Reader) error {
		data, create := &pb.PostureData{ApiSessionId: c.session.ID}, true
		if rec, err := rd.Get(fsm.KindPostureData, c.session.ID); err == nil {
			data, create = proto.Clone(rec.Body).(*pb.PostureData), false
		}
		now := time.Now().UnixNano()
		for _, in := range items {
			if aerr := applyPostureResponse(in, data, now); aerr != nil {
				return aerr
			}
		}
		var err error
		if create {
			op, err = fsm.CreateOp(fsm.KindPostureData, c.session.ID, data, nil)
		} else {
			op, err = fsm.UpdateOp(fsm.KindPostureData, c.session.ID, data, nil)
		}
		return err
	})
	if err != nil {
		return api.As(err)
	}
	if aerr := s.apply(r, op); aerr != nil {
		return aerr
	}
	api.WriteData(w, status, map[string]any{"services": []any{}}, api.Meta{})
	return nil
}

// applyPostureResponse merges one response, received at now (unix ns),
// into data.
func applyPostureResponse(in api.Object, data *pb.PostureData, now int64) *api.Error {
	checkID, aerr := boundedString(in, "id", 64)
	if aerr != nil {
		return aerr
	}
	if checkID == "" {
		return api.Invalid("id", "is required: the posture check answered", nil)
	}
	typ, _, aerr := in.String("typeId")
	if aerr != nil {
		return aerr
	}
	str := func(name string, max int) (string, *api.Error) { return boundedString(in, name, max) }
	switch typ {
	case "OS":
		osType, aerr := str("type", 64)
		if aerr != nil {
			return aerr
		}
		version, aerr := str("version", 128)
		if aerr != nil {
			return aerr
		}
		build, aerr := str("build", 128)
		if aerr != nil {
			return aerr
		}
		data.OsType, data.OsVersion, data.OsBuild, data.OsCheckId, data.OsAt = osType, version, build, checkID, now
	case "MAC":
		macs, _, aerr := in.Strings("macAddresses")
		if aerr != nil {
			return aerr
		}
		if err := boundedStrings("macAddresses", macs, 100, 64); err != nil {
			return err
		}
		data.MacAddresses, data.MacCheckId, data.MacAt = macs, checkID, now
	case "DOMAIN":
		domain, aerr := str("domain", 253)
		if aerr != nil {
			return aerr
		}
		data.Domain, data.DomainCheckId, data.DomainAt = domain, checkID, now
	case "PROCESS":
		path, aerr := str("path", 1024)
		if aerr != nil {
			return aerr
		}
		if path == "" {
			return api.Invalid("path", "is required", nil)
		}
		running, _, aerr := in.Bool("isRunning")
		if aerr != nil {
			return aerr
		}
		hash, aerr := str("hash", 128)
		if aerr != nil {
			return aerr
		}
		signers, _, aerr := in.Strings("signerFingerprints")
		if aerr != nil {
			return aerr
		}
		if err := boundedStrings("signerFingerprints", signers, 100, 128); err != nil {
			return err
		}
		if data.Processes == nil {
			data.Processes = map[string]*pb.ProcessState{}
		}
		if _, known := data.Processes[path]; !known && len(data.Processes) >= maxProcesses {
			return api.Invalid("path", fmt.Sprintf("at most %d processes per session", maxProcesses), nil)
		}
		data.Processes[path] = &pb.ProcessState{IsRunning: running, Hash: hash, SignerFingerprints: signers, CheckId: checkID, At: now}
	default:
		return api.Invalid("typeId", "must be OS, MAC, DOMAIN or PROCESS", typ)
	}
	return nil
}

// boundedString reads the optional string member name of at most max bytes.
func boundedString(in api.Object, name string, max int) (string, *api.Error) {
	v, _, aerr := in.String(name)
	if aerr == nil && len(v) > max {
		aerr = api.Invalid(name, fmt.Sprintf("at most %d characters", max), nil)
	}
	return v, aerr
}
