package rest

import (
	"net/http"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// apiSessions declares /api-sessions. Only a token's hash is stored, so the
// token itself is known only to its holder: every other view of a session
// shows an empty token. Deleting a session ends it on every node at once,
// with its session certificates.
func (s *Server) apiSessions() *Resource {
	return &Resource{
		Kind: fsm.KindApiSession, Path: "api-sessions",
		Fields: []Field{
			{Name: "identityId", Proto: "identity_id", Type: Ref, RefKind: fsm.KindIdentity, RefPath: "identities", RefName: "identity",
				Access: ReadOnly, Filter: []string{"identity", "identityId"}, Index: fsm.ApiSessionIdentity},
			{Name: "authenticatorId", Proto: "authenticator_id", Type: String, Access: ReadOnly, Filter: []string{"authenticator", "authenticatorId"}},
			{Name: "ipAddress", Proto: "ip_address", Type: String, Access: ReadOnly},
			{Name: "configTypes", Proto: "config_types", Type: Strings, Access: ReadOnly, NoFilter: true},
			{Name: "lastActivityAt", Proto: "last_activity_at", Type: DateTime, Access: ReadOnly},
			{Name: "isMfaRequired", Proto: "is_mfa_required", Type: Bool, Access: ReadOnly, Filter: []string{"mfaRequired", "isMfaRequired"}},
			{Name: "isMfaComplete", Proto: "is_mfa_complete", Type: Bool, Access: ReadOnly, Filter: []string{"mfaComplete", "isMfaComplete"}},
			{Name: "improperClientCertChain", Type: Bool, Access: ReadOnly, Get: func(*fsm.Reader, *fsm.Record) any { return false }},
		},
		Render: func(rd *fsm.Reader, rec *fsm.Record, d map[string]any) error {
			d["token"] = ""
			queries, err := authQueries(rd, rec.Body.(*pb.ApiSession))
			if err != nil {
				return err
			}
			d["authQueries"] = queries
			// What the session's certificate authenticator asks of it
			// (POST /authenticators/{id}/request-extend).
			var a *pb.Authenticator
			if aid := rec.Body.(*pb.ApiSession).GetAuthenticatorId(); aid != "" {
				if arec, err := rd.Get(fsm.KindAuthenticator, aid); err == nil {
					a, _ = arec.Body.(*pb.Authenticator)
				}
			}
			d["isCertExtendable"] = a.GetMethod() == "cert" && a.GetIsIssuedByNetwork()
			d["isCertExtendRequested"], d["isCertKeyRollRequested"] = a.GetIsExtendRequested(), a.GetIsKeyRollRequested()
			d["cachedLastActivityAt"] = d["lastActivityAt"]
			d["cachedUpdatedAt"] = api.Time(rec.UpdatedAt)
			return nil
		},
	}
}

// summaryKinds maps the summary's names (OpenZiti's) to entity types.
var summaryKinds = map[string]string{
	"identities":                fsm.KindIdentity,
	"authenticators":            fsm.KindAuthenticator,
	"apiSessions":               fsm.KindApiSession,
	"controllers":               fsm.KindController,
	"configTypes":               fsm.KindConfigType,
	"configs":                   fsm.KindConfig,
	"edgeRouters":               fsm.KindEdgeRouter,
	"cas":                       fsm.KindCa,
	"enrollments":               fsm.KindEnrollment,
	"services":                  fsm.KindService,
	"servicePolicies":           fsm.KindServicePolicy,
	"edgeRouterPolicies":        fsm.KindEdgeRouterPolicy,
	"serviceEdgeRouterPolicies": fsm.KindServiceEdgeRouterPolicy,
	"sessions":                  fsm.KindSession,
	"postureChecks":             fsm.KindPostureCheck,
	"terminators":               fsm.KindTerminator,
}

// summary counts the entities of each type in this node's store.
func (s *Server) summary(w http.ResponseWriter, r *http.Request) error {
	out := map[string]int{}
	err := s.store.View(func(rd *fsm.Reader) error {
		for name, kind := range summaryKinds {
			n, err := rd.Count(kind)
			if err != nil {
				return err
			}
			out[name] = n
		}
		// Transit routers share the edge routers' kind.
		transit, err := rd.IDsByIndex(fsm.EdgeRouterTransit, "true")
		if err != nil {
			return err
		}
		out["edgeRouters"] -= len(transit)
		out["transitRouters"] = len(transit)
		return nil
	})
	if err != nil {
		return api.Unhandled(err)
	}
	api.WriteData(w, http.StatusOK, out, api.Meta{})
	return nil
}
