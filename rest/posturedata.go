package rest

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/mux"
	"google.golang.org/protobuf/proto"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// identityPostureData answers GET /identities/{id}/posture-data: what the
// identity's clients last reported, part by part, across its API sessions
// (the newest report of each part, each process by path), and per API
// session its MFA state. Parts never reported render empty, as of the epoch.
func (s *Server) identityPostureData(w http.ResponseWriter, r *http.Request) error {
	identityID := mux.Vars(r)["id"]
	var out map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		if _, err := rd.Get(fsm.KindIdentity, identityID); err != nil {
			return err
		}
		sessions, err := rd.IDsByIndex(fsm.ApiSessionIdentity, identityID)
		if err != nil {
			return err
		}
		latest := &pb.PostureData{}
		procs := map[string]*pb.ProcessState{}
		perSession := map[string]any{}
		for _, sid := range sessions {
			sess := &pb.ApiSession{}
			if rec, err := rd.Get(fsm.KindApiSession, sid); err == nil {
				sess = rec.Body.(*pb.ApiSession)
			}
			perSession[sid] = map[string]any{"mfa": map[string]any{
				"apiSessionId": sid, "passedMfa": sess.GetIsMfaComplete(), "passedOnWake": false, "passedOnUnlock": false,
				"passedAt": api.Time(time.Unix(0, sess.GetMfaPassedAt())),
			}}
			rec, err := rd.Get(fsm.KindPostureData, sid)
			if errors.Is(err, fsm.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			mergeNewest(latest, procs, rec.Body.(*pb.PostureData))
		}
		processes := []any{}
		for _, path := range slices.Sorted(maps.Keys(procs)) {
			p := procs[path]
			processes = append(processes, postureBase(p.GetCheckId(), p.GetAt(), map[string]any{
				"isRunning": p.GetIsRunning(), "binaryHash": p.GetHash(), "signerFingerprints": nonNil(p.GetSignerFingerprints()),
			}))
		}
		out = map[string]any{
			"os": postureBase(latest.GetOsCheckId(), latest.GetOsAt(), map[string]any{
				"type": latest.GetOsType(), "version": latest.GetOsVersion(), "build": latest.GetOsBuild()}),
			"mac":                   postureBase(latest.GetMacCheckId(), latest.GetMacAt(), map[string]any{"addresses": nonNil(latest.GetMacAddresses())}),
			"domain":                postureBase(latest.GetDomainCheckId(), latest.GetDomainAt(), map[string]any{"domain": latest.GetDomain()}),
			"processes":             processes,
			"apiSessionPostureData": perSession,
		}
		return nil
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	api.WriteData(w, http.StatusOK, out, api.Meta{})
	return nil
}

// mergeNewest keeps in latest, part by part, whichever of latest and d was
// reported later, and in procs the newest report of each process path.
func mergeNewest(latest *pb.PostureData, procs map[string]*pb.ProcessState, d *pb.PostureData) {
	if d.GetOsAt() > latest.GetOsAt() {
		latest.OsType, latest.OsVersion, latest.OsBuild, latest.OsCheckId, latest.OsAt = d.GetOsType(), d.GetOsVersion(), d.GetOsBuild(), d.GetOsCheckId(), d.GetOsAt()
	}
	if d.GetMacAt() > latest.GetMacAt() {
		latest.MacAddresses, latest.MacCheckId, latest.MacAt = d.GetMacAddresses(), d.GetMacCheckId(), d.GetMacAt()
	}
	if d.GetDomainAt() > latest.GetDomainAt() {
		latest.Domain, latest.DomainCheckId, latest.DomainAt = d.GetDomain(), d.GetDomainCheckId(), d.GetDomainAt()
	}
	for path, p := range d.GetProcesses() {
		if old, ok := procs[path]; !ok || p.GetAt() > old.GetAt() {
			procs[path] = p
		}
	}
}

// postureBase adds the spec's postureDataBase members to part.
func postureBase(checkID string, at int64, part map[string]any) map[string]any {
	part["postureCheckId"] = checkID
	part["timedOut"] = false // no check here times out
	part["lastUpdatedAt"] = api.Time(time.Unix(0, at))
	return part
}

func epoch() string { return api.Time(time.Unix(0, 0)) }

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// identityFailedServiceRequests answers GET
// /identities/{id}/failed-service-requests: the identity's latest network
// session requests refused for failing posture, oldest first.
func (s *Server) identityFailedServiceRequests(w http.ResponseWriter, r *http.Request) error {
	identityID := mux.Vars(r)["id"]
	out := []any{}
	err := s.store.View(func(rd *fsm.Reader) error {
		if _, err := rd.Get(fsm.KindIdentity, identityID); err != nil {
			return err
		}
		rec, err := rd.Get(fsm.KindPostureFailures, identityID)
		if errors.Is(err, fsm.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, f := range rec.Body.(*pb.PostureFailures).GetFailures() {
			policies := []any{}
			if err := json.Unmarshal(f.GetPolicyFailuresJson(), &policies); err != nil {
				return err
			}
			out = append(out, map[string]any{
				"apiSessionId": f.GetApiSessionId(), "serviceId": f.GetServiceId(), "serviceName": f.GetServiceName(),
				"sessionType": f.GetSessionType(), "when": api.Time(time.Unix(0, f.GetWhen())), "policyFailures": policies,
			})
		}
		return nil
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	api.WriteData(w, http.StatusOK, out, api.Meta{})
	return nil
}

// maxPostureFailures bounds the refused requests kept per identity (OpenZiti
// keeps 100 in each node's memory; these are replicated, so fewer).
const maxPostureFailures = 20

// postureRefusal is a network session request refused for failing posture.
type postureRefusal struct {
	identityID string
	failure    *pb.PostureFailure
}

// newPostureRefusal describes the refusal of a session of type typ on g's
// service: each policy granting typ, with the checks it failed against the
// posture data of the caller's API session.
func newPostureRefusal(rd *fsm.Reader, g serviceGrant, sessionID, typ string) (*postureRefusal, error) {
	data := &pb.PostureData{}
	if rec, err := rd.Get(fsm.KindPostureData, sessionID); err == nil {
		data = rec.Body.(*pb.PostureData)
	}
	sess := &pb.ApiSession{}
	if rec, err := rd.Get(fsm.KindApiSession, sessionID); err == nil {
		sess = rec.Body.(*pb.ApiSession)
	}
	policies := []any{}
	for _, pp := range g.posture {
		if pp.Policy.Body.(*pb.ServicePolicy).GetType() != typ {
			continue
		}
		checks := []any{}
		for _, q := range pp.Queries {
			if !q.IsPassing {
				checks = append(checks, postureCheckFailure(q.Check, data, sess))
			}
		}
		policies = append(policies, map[string]any{
			"policyId": pp.Policy.ID, "policyName": pp.Policy.Body.(*pb.ServicePolicy).GetName(), "checks": checks,
		})
	}
	raw, err := json.Marshal(policies)
	if err != nil {
		return nil, err
	}
	return &postureRefusal{identityID: g.ident.ID, failure: &pb.PostureFailure{
		ApiSessionId: sessionID, ServiceId: g.svc.ID, ServiceName: g.svc.Body.(*pb.Service).GetName(),
		SessionType: typ, When: time.Now().UnixNano(), PolicyFailuresJson: raw,
	}}, nil
}

// postureCheckFailure renders the spec's postureCheckFailure of check
// against data and the MFA state of sess: what the check expects and what
// was reported.
func postureCheckFailure(check *fsm.Record, data *pb.PostureData, sess *pb.ApiSession) map[string]any {
	pc := check.Body.(*pb.PostureCheck)
	params := map[string]any{}
	_ = json.Unmarshal(pc.GetParamsJson(), &params)
	out := map[string]any{"postureCheckId": check.ID, "postureCheckName": pc.GetName(), "postureCheckType": pc.GetTypeId()}
	expected := func(name string) any {
		if v, ok := params[name]; ok && v != nil {
			return v
		}
		return []any{}
	}
	switch pc.GetTypeId() {
	case "OS":
		out["expectedValue"] = expected("operatingSystems")
		out["actualValue"] = map[string]any{"type": data.GetOsType(), "version": data.GetOsVersion()}
	case "MAC":
		out["expectedValue"] = expected("macAddresses")
		out["actualValue"] = nonNil(data.GetMacAddresses())
	case "DOMAIN":
		out["expectedValue"] = expected("domains")
		out["actualValue"] = data.GetDomain()
	case "PROCESS":
		proc, _ := params["process"].(map[string]any)
		if proc == nil {
			proc = map[string]any{"osType": "", "path": ""}
		}
		path, _ := proc["path"].(string)
		out["expectedValue"] = proc
		out["actualValue"] = processActual(path, data)
	case "PROCESS_MULTI":
		actual := []any{}
		procs, _ := params["processes"].([]any)
		for _, p := range procs {
			m, _ := p.(map[string]any)
			path, _ := m["path"].(string)
			actual = append(actual, processActual(path, data))
		}
		out["expectedValue"] = expected("processes")
		out["actualValue"] = actual
		out["semantic"] = params["semantic"]
		if out["semantic"] == nil {
			out["semantic"] = fsm.SemanticAllOf
		}
	case "MFA":
		timeout, _ := params["timeoutSeconds"].(float64)
		wake, _ := params["promptOnWake"].(bool)
		unlock, _ := params["promptOnUnlock"].(bool)
		passedAt := time.Unix(0, sess.GetMfaPassedAt())
		timedOut := sess.GetIsMfaComplete() && timeout > 0 && time.Since(passedAt) > time.Duration(timeout)*time.Second
		remaining := int64(0)
		if sess.GetIsMfaComplete() && timeout > 0 && !timedOut {
			remaining = int64(time.Until(passedAt.Add(time.Duration(timeout)*time.Second)) / time.Second)
		}
		out["expectedValue"] = map[string]any{"passedMfa": true, "passedOnWake": wake, "passedOnUnlock": unlock, "timedOut": false}
		out["actualValue"] = map[string]any{"passedMfa": sess.GetIsMfaComplete(), "passedOnWake": false, "passedOnUnlock": false, "timedOut": timedOut}
		out["criteria"] = map[string]any{"passedMfaAt": api.Time(passedAt), "wokenAt": epoch(), "unlockedAt": epoch(),
			"timeoutSeconds": int64(timeout), "timeoutRemainingSeconds": remaining}
	}
	return out
}

// processActual is the spec's postureCheckFailureProcessActual of path.
func processActual(path string, data *pb.PostureData) map[string]any {
	p := data.GetProcesses()[path]
	return map[string]any{"path": path, "isRunning": p.GetIsRunning(), "hash": p.GetHash(),
		"signerFingerprints": nonNil(p.GetSignerFingerprints())}
}

// recordPostureRefusal appends f to its identity's refused requests, keeping
// the newest maxPostureFailures. Two nodes recording at once may race: the
// write is retried on the store's answer, and one lost entry of this
// diagnostic list is tolerated rather than failing the request it explains.
func (s *Server) recordPostureRefusal(r *http.Request, f *postureRefusal) error {
	var last error
	for range 3 {
		var op *pb.Op
		err := s.store.View(func(rd *fsm.Reader) error {
			list := &pb.PostureFailures{IdentityId: f.identityID}
			rec, err := rd.Get(fsm.KindPostureFailures, f.identityID)
			exists := err == nil
			if exists {
				list = proto.Clone(rec.Body).(*pb.PostureFailures)
			} else if !errors.Is(err, fsm.ErrNotFound) {
				return err
			}
			list.Failures = append(list.Failures, f.failure)
			if n := len(list.Failures); n > maxPostureFailures {
				list.Failures = list.Failures[n-maxPostureFailures:]
			}
			if exists {
				op, err = fsm.UpdateOp(fsm.KindPostureFailures, f.identityID, list, nil)
			} else {
				op, err = fsm.CreateOp(fsm.KindPostureFailures, f.identityID, list, nil)
			}
			return err
		})
		if err != nil {
			return err
		}
		res, aerr := s.applyAside(r, op)
		if aerr != nil {
			return aerr
		}
		if res.GetCode() == pb.Result_OK {
			return nil
		}
		last = api.FromResult(res)
	}
	return last
}
