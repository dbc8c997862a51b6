package rest

import (
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// identityTypes are OpenZiti's fixed identity types; their id is their name.
var identityTypes = []string{"Default", "Device", "Router", "Service", "User"}

var terminatorPrecedences = []string{"default", "required", "failed"}

// defaultAuthPolicyID is OpenZiti's built-in auth policy every identity
// uses unless given another.
const defaultAuthPolicyID = "default"

// identities declares /identities.
func (s *Server) identities() *Resource {
	return &Resource{
		Kind: fsm.KindIdentity, Path: "identities",
		Fields: []Field{
			{Name: "name", Proto: "name", Type: String, Required: Always, NotNull: true, Index: fsm.IdentityName},
			// Bodies say "type"; the entity renders typeId and a type entityRef.
			{Name: "typeId", Input: "type", Proto: "type_id", Type: Enum, Values: identityTypes, Default: "Default",
				Required: Always, NotNull: true, Filter: []string{"type", "typeId"}},
			{Name: "isAdmin", Proto: "is_admin", Type: Bool, Required: Always},
			{Name: "isDefaultAdmin", Proto: "is_default_admin", Type: Bool, Access: ReadOnly},
			{Name: "roleAttributes", Proto: "role_attributes", Type: Strings, Index: fsm.IdentityRoleAttributes},
			{Name: "authPolicyId", Proto: "auth_policy_id", Type: String, Default: defaultAuthPolicyID},
			{Name: "externalId", Proto: "external_id", Type: String, Nullable: true, Index: fsm.IdentityExternalID},
			{Name: "defaultHostingCost", Proto: "default_hosting_cost", Type: Int, Min: 0, Max: 65535},
			{Name: "defaultHostingPrecedence", Proto: "default_hosting_precedence", Type: Enum, Values: terminatorPrecedences, Default: "default", NoFilter: true},
			{Name: "serviceHostingCosts", Proto: "service_hosting_costs", Type: IntMap, Min: 0, Max: 65535},
			{Name: "serviceHostingPrecedences", Proto: "service_hosting_precedences", Type: EnumMap, Values: terminatorPrecedences},
			{Name: "appData", Proto: "app_data_json", Type: TagMap},
			{Name: "disabled", Proto: "disabled", Type: Bool, Access: ReadOnly},
			{Name: "disabledAt", Proto: "disabled_at", Type: DateTime, Access: ReadOnly, Nullable: true},
			{Name: "disabledUntil", Proto: "disabled_until", Type: DateTime, Access: ReadOnly, Nullable: true},
		},
		Check:        s.checkIdentity,
		Render:       renderIdentity,
		BeforeDelete: refuseDefaultAdminDelete,
	}
}

// checkIdentity: fine-grained permissions do not exist yet; the default admin stays an
// admin; enrollments asked for at creation are minted here and created in
// the same command as the identity.
func (s *Server) checkIdentity(w *Write) error {
	ident := w.Body.(*pb.Identity)
	// The default policy is stored as no id, so that nothing refers to it
	// (a cluster from before auth policies may lack its record); any other
	// must exist, which the store checks on the write.
	if ident.GetAuthPolicyId() == defaultAuthPolicyID {
		ident.AuthPolicyId = ""
	}
	if v, _, aerr := w.In.Strings("permissions"); aerr != nil {
		return aerr
	} else if len(v) > 0 {
		return api.Invalid("permissions", "fine-grained permissions are not supported yet; use isAdmin", v)
	}
	if old, ok := w.Old.(*pb.Identity); ok && old.GetIsDefaultAdmin() && !ident.GetIsAdmin() {
		return api.Invalid("isAdmin", "the default admin cannot lose admin rights", false)
	}
	if w.In.Has("enrollment") && !w.In.IsNull("enrollment") {
		if w.Mode != Create {
			return api.Invalid("enrollment", "enrollments are set at creation; use POST /enrollments for an existing identity", nil)
		}
		reqs, aerr := identityEnrollmentInput(w.In)
		if aerr != nil {
			return aerr
		}
		// An identity never exists without the enrollment its creator asked for.
		for _, req := range reqs {
			req.identityID = w.ID
			e, aerr := s.newIdentityEnrollment(w.Reader, req, false)
			if aerr != nil {
				return aerr
			}
			op, err := fsm.CreateOp(fsm.KindEnrollment, s.newID(w.R), e, nil)
			if err != nil {
				return err
			}
			w.After = append(w.After, op)
		}
	}
	return nil
}

// identityEnrollmentInput reads identityCreate.enrollment: {ott: true},
// {ottca: caId} and/or {updb: username}.
func identityEnrollmentInput(in api.Object) ([]enrollmentRequest, *api.Error) {
	eo, _, aerr := in.Object("enrollment")
	if aerr != nil {
		return nil, aerr
	}
	exp := time.Now().Add(edge.DefaultEnrollmentLifetime)
	var reqs []enrollmentRequest
	ott, _, aerr := eo.Bool("ott")
	if aerr != nil {
		return nil, api.PrefixField("enrollment.", aerr)
	}
	if ott {
		reqs = append(reqs, enrollmentRequest{method: edge.MethodOTT, expiresAt: exp})
	}
	if caID, ok, aerr := eo.String("ottca"); aerr != nil {
		return nil, api.PrefixField("enrollment.", aerr)
	} else if ok && caID != "" {
		if ott {
			return nil, api.Invalid("enrollment.ottca", "ott and ottca both create a certificate; choose one", caID)
		}
		reqs = append(reqs, enrollmentRequest{method: edge.MethodOTTCA, caID: caID, expiresAt: exp})
	}
	if username, ok, aerr := eo.String("updb"); aerr != nil {
		return nil, api.PrefixField("enrollment.", aerr)
	} else if ok && username != "" {
		reqs = append(reqs, enrollmentRequest{method: edge.MethodUPDB, username: username, expiresAt: exp})
	}
	return reqs, nil
}

// refuseDefaultAdminDelete keeps the default admin. Deleting any other
// identity deletes its authenticators, enrollments and API sessions in the
// same apply, so its sessions stop working on every node at once.
func refuseDefaultAdminDelete(_ *fsm.Reader, rec *fsm.Record) ([]*pb.Op, error) {
	if rec.Body.(*pb.Identity).GetIsDefaultAdmin() {
		return nil, api.Conflict("the default admin cannot be deleted")
	}
	return nil, nil
}

// renderIdentity adds what identityDetail says beyond the stored fields:
// the identity's authenticators and outstanding enrollments, read from the
// same view, and what only a data plane could tell (nothing, here).
func renderIdentity(rd *fsm.Reader, rec *fsm.Record, d map[string]any) error {
	d["type"] = EntityRef("identity-types", d["typeId"].(string), d["typeId"].(string))
	policyID := rec.Body.(*pb.Identity).GetAuthPolicyId()
	if policyID == "" {
		policyID = defaultAuthPolicyID
	}
	policyName := NameOf(rd, fsm.KindAuthPolicy, policyID)
	if policyName == "" && policyID == defaultAuthPolicyID {
		policyName = fsm.DefaultAuthPolicy().GetName()
	}
	d["authPolicy"] = EntityRef("auth-policies", policyID, policyName)
	authenticators := map[string]any{}
	ids, err := rd.IDsByIndex(fsm.AuthenticatorIdentity, rec.ID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		arec, err := rd.Get(fsm.KindAuthenticator, id)
		if err != nil {
			return err
		}
		switch a := arec.Body.(*pb.Authenticator); a.GetMethod() {
		case "updb":
			authenticators["updb"] = map[string]any{"id": id, "username": a.GetUsername()}
		case "cert":
			authenticators["cert"] = map[string]any{"id": id, "fingerprint": a.GetFingerprint()}
		}
	}
	d["authenticators"] = authenticators
	if d["enrollment"], err = identityEnrollments(rd, rec.ID); err != nil {
		return err
	}
	sessions, err := rd.IDsByIndex(fsm.ApiSessionIdentity, rec.ID)
	if err != nil {
		return err
	}
	d["hasApiSession"] = len(sessions) > 0
	d["envInfo"], d["sdkInfo"] = map[string]any{}, map[string]any{}
	d["hasEdgeRouterConnection"], d["edgeRouterConnectionStatus"] = false, "offline"
	mfa, err := rd.Get(fsm.KindMfa, rec.ID)
	d["isMfaEnabled"] = err == nil && mfa.Body.(*pb.Mfa).GetIsVerified()
	d["permissions"] = []string{}
	return nil
}

// identityEnrollments renders identityEnrollments: the identity's
// outstanding enrollments by method.
func identityEnrollments(rd *fsm.Reader, identityID string) (map[string]any, error) {
	out := map[string]any{}
	ids, err := rd.IDsByIndex(fsm.EnrollmentIdentity, identityID)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		rec, err := rd.Get(fsm.KindEnrollment, id)
		if err != nil {
			return nil, err
		}
		e := rec.Body.(*pb.Enrollment)
		v := map[string]any{"id": id, "jwt": e.GetJwt(), "token": e.GetToken(),
			"expiresAt": api.Time(time.Unix(0, e.GetExpiresAt()))}
		if e.GetCaId() != "" {
			v["caId"] = e.GetCaId()
			v["ca"] = EntityRef("cas", e.GetCaId(), NameOf(rd, fsm.KindCa, e.GetCaId()))
		}
		out[e.GetMethod()] = v
	}
	return out, nil
}

// maxDisableMinutes bounds a disable to 100 years, which keeps its end
// inside what unix nanoseconds hold (year 2262).
const maxDisableMinutes = 100 * 365 * 24 * 60

// disableIdentity disables an identity, for durationMinutes or (0) until it
// is enabled, and ends its API sessions in the same command.
func (s *Server) disableIdentity(w http.ResponseWriter, r *http.Request) error {
	o, bodyErr := api.DecodeObject(r)
	if retry, err := s.rs.RetriedEmpty(w, r); retry {
		return err
	}
	rec, ident, aerr := load[*pb.Identity](s, r, fsm.KindIdentity)
	if aerr != nil {
		return aerr
	}
	if bodyErr != nil {
		return bodyErr
	}
	minutes, ok, aerr := o.Int("durationMinutes", 0, maxDisableMinutes)
	if aerr != nil {
		return aerr
	}
	if !ok {
		return api.Invalid("durationMinutes", "durationMinutes is required", nil)
	}
	if ident.GetIsDefaultAdmin() {
		return api.Invalid("id", "the default admin cannot be disabled", rec.ID)
	}
	now := time.Now()
	ident.Disabled, ident.DisabledAt, ident.DisabledUntil = true, now.UnixNano(), 0
	if minutes > 0 {
		ident.DisabledUntil = now.Add(time.Duration(minutes) * time.Minute).UnixNano()
	}
	var sessions []string
	err := s.store.View(func(rd *fsm.Reader) error {
		var err error
		sessions, err = rd.IDsByIndex(fsm.ApiSessionIdentity, rec.ID)
		return err
	})
	if err != nil {
		return api.Unhandled(err)
	}
	var ends []*pb.Op
	for _, sid := range sessions {
		ends = append(ends, &pb.Op{Kind: &pb.Op_Delete{Delete: &pb.Delete{Type: fsm.KindApiSession, Id: sid, SkipMissing: true}}})
	}
	return s.writeDisabled(w, r, rec.ID, ident, ends...)
}

// writeDisabled replicates the identity's disabled fields, with any extra
// ops in the same command.
func (s *Server) writeDisabled(w http.ResponseWriter, r *http.Request, id string, ident *pb.Identity, extra ...*pb.Op) error {
	op, err := fsm.PatchOp(fsm.KindIdentity, id, ident, nil, "disabled", "disabled_at", "disabled_until")
	if err != nil {
		return api.Unhandled(err)
	}
	return s.applyEmpty(w, r, append([]*pb.Op{op}, extra...)...)
}

func (s *Server) enableIdentity(w http.ResponseWriter, r *http.Request) error {
	if retry, err := s.rs.RetriedEmpty(w, r); retry {
		return err
	}
	rec, ident, aerr := load[*pb.Identity](s, r, fsm.KindIdentity)
	if aerr != nil {
		return aerr
	}
	ident.Disabled, ident.DisabledAt, ident.DisabledUntil = false, 0, 0
	return s.writeDisabled(w, r, rec.ID, ident)
}

// identityTypeEpoch is the fixed createdAt of the built-in identity types.
var identityTypeEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func renderIdentityType(name string) map[string]any {
	return map[string]any{
		"id": name, "name": name, "createdAt": api.Time(identityTypeEpoch), "updatedAt": api.Time(identityTypeEpoch),
		"tags": map[string]any{}, "_links": api.Links("./identity-types/" + name),
	}
}

func (s *Server) listIdentityTypes(w http.ResponseWriter, r *http.Request) error {
	out := make([]map[string]any, 0, len(identityTypes))
	for _, t := range identityTypes {
		out = append(out, renderIdentityType(t))
	}
	n := int64(len(out))
	api.WriteData(w, http.StatusOK, out, api.Meta{Pagination: &api.Pagination{Limit: max(n, 10), TotalCount: n}})
	return nil
}

func (s *Server) getIdentityType(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	if !slices.Contains(identityTypes, id) {
		return api.NotFound()
	}
	api.WriteData(w, http.StatusOK, renderIdentityType(id), api.Meta{})
	return nil
}
