package rest

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/garrison-ctrl/garrison/internal/edge"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// identityTypes are OpenZiti's fixed identity types; their id is their name.
var identityTypes = []string{"Default", "Device", "Router", "Service", "User"}

var terminatorPrecedences = []string{"default", "required", "failed"}

// identityFields maps the API's identity fields to the proto fields a
// PATCH names; a PUT writes all of them.
var identityFields = map[string]string{
	"name": "name", "type": "type_id", "isAdmin": "is_admin", "roleAttributes": "role_attributes",
	"authPolicyId": "auth_policy_id", "externalId": "external_id", "defaultHostingCost": "default_hosting_cost",
	"defaultHostingPrecedence": "default_hosting_precedence", "serviceHostingCosts": "service_hosting_costs",
	"serviceHostingPrecedences": "service_hosting_precedences", "appData": "app_data_json", "tags": "tags",
}

func (s *Server) routeIdentities(r *mux.Router) {
	r.Handle("/identities", s.admin(api.Handle(s.createIdentity))).Methods(http.MethodPost)
	r.Handle("/identities/{id}", s.admin(api.Handle(s.getIdentity))).Methods(http.MethodGet)
	r.Handle("/identities/{id}", s.admin(api.Handle(s.updateIdentity(false)))).Methods(http.MethodPut)
	r.Handle("/identities/{id}", s.admin(api.Handle(s.updateIdentity(true)))).Methods(http.MethodPatch)
	r.Handle("/identities/{id}", s.admin(api.Handle(s.deleteIdentity))).Methods(http.MethodDelete)
	r.Handle("/identities/{id}/disable", s.admin(api.Handle(s.disableIdentity))).Methods(http.MethodPost)
	r.Handle("/identities/{id}/enable", s.admin(api.Handle(s.enableIdentity))).Methods(http.MethodPost)
	r.Handle("/identity-types", s.admin(api.Handle(s.listIdentityTypes))).Methods(http.MethodGet)
	r.Handle("/identity-types/{id}", s.admin(api.Handle(s.getIdentityType))).Methods(http.MethodGet)
}

// identityInput reads an identityCreate/Update/Patch body into ident (which
// holds the current values for an update) and returns the tags, whether
// tags were given, and the proto fields that were set.
func identityInput(o api.Object, ident *pb.Identity, patch bool) (map[string]any, bool, []string, *api.Error) {
	var set []string
	mark := func(field string) { set = append(set, identityFields[field]) }
	required := func(field string) *api.Error {
		if !patch && !o.Has(field) {
			return api.Invalid(field, field+" is required", nil)
		}
		if o.IsNull(field) && (field == "name" || field == "type" || !patch) {
			return api.Invalid(field, field+" must not be null", nil)
		}
		return nil
	}
	for _, f := range []string{"name", "type", "isAdmin"} {
		if err := required(f); err != nil {
			return nil, false, nil, err
		}
	}
	if v, ok, err := o.String("name"); err != nil {
		return nil, false, nil, err
	} else if ok {
		if v == "" || api.BadText(v) != "" {
			return nil, false, nil, api.Invalid("name", "must be non-empty text", v)
		}
		ident.Name = v
		mark("name")
	}
	if v, ok, err := o.String("type"); err != nil {
		return nil, false, nil, err
	} else if ok {
		if !slices.Contains(identityTypes, v) {
			return nil, false, nil, api.Invalid("type", "must be one of User, Device, Service, Router, Default", v)
		}
		ident.TypeId = v
		mark("type")
	}
	if v, ok, err := o.Bool("isAdmin"); err != nil {
		return nil, false, nil, err
	} else if ok || (!patch && o.Has("isAdmin")) {
		ident.IsAdmin = v
		mark("isAdmin")
	}
	if v, ok, err := o.Strings("roleAttributes"); err != nil {
		return nil, false, nil, err
	} else if ok || o.Has("roleAttributes") || !patch {
		ident.RoleAttributes = v
		mark("roleAttributes")
	}
	if v, ok, err := o.String("authPolicyId"); err != nil {
		return nil, false, nil, err
	} else if ok || o.Has("authPolicyId") || !patch {
		// Auth policies are not modelled yet: only the built-in one exists.
		if ok && v != defaultAuthPolicyID {
			return nil, false, nil, api.Invalid("authPolicyId", "no auth policy with this id exists; only \"default\" is available", v)
		}
		ident.AuthPolicyId = ""
		mark("authPolicyId")
	}
	if v, ok, err := o.String("externalId"); err != nil {
		return nil, false, nil, err
	} else if ok || o.Has("externalId") || !patch {
		if api.BadText(v) != "" {
			return nil, false, nil, api.Invalid("externalId", api.BadText(v), nil)
		}
		ident.ExternalId = v
		mark("externalId")
	}
	if v, ok, err := o.Int("defaultHostingCost", 0, 65535); err != nil {
		return nil, false, nil, err
	} else if ok || o.Has("defaultHostingCost") || !patch {
		ident.DefaultHostingCost = v
		mark("defaultHostingCost")
	}
	if v, ok, err := o.String("defaultHostingPrecedence"); err != nil {
		return nil, false, nil, err
	} else if ok || o.Has("defaultHostingPrecedence") || !patch {
		if ok && !slices.Contains(terminatorPrecedences, v) {
			return nil, false, nil, api.Invalid("defaultHostingPrecedence", "must be default, required or failed", v)
		}
		ident.DefaultHostingPrecedence = v
		mark("defaultHostingPrecedence")
	}
	var costs map[string]int64
	if ok, err := o.Decode("serviceHostingCosts", "an api.Object of integers", &costs); err != nil {
		return nil, false, nil, err
	} else if ok || o.Has("serviceHostingCosts") || !patch {
		for svc, c := range costs {
			if c < 0 || c > 65535 {
				return nil, false, nil, api.Invalid("serviceHostingCosts."+svc, "must be between 0 and 65535", c)
			}
		}
		ident.ServiceHostingCosts = costs
		mark("serviceHostingCosts")
	}
	var precedences map[string]string
	if ok, err := o.Decode("serviceHostingPrecedences", "an api.Object of strings", &precedences); err != nil {
		return nil, false, nil, err
	} else if ok || o.Has("serviceHostingPrecedences") || !patch {
		for svc, p := range precedences {
			if !slices.Contains(terminatorPrecedences, p) {
				return nil, false, nil, api.Invalid("serviceHostingPrecedences."+svc, "must be default, required or failed", p)
			}
		}
		ident.ServiceHostingPrecedences = precedences
		mark("serviceHostingPrecedences")
	}
	if v, ok, err := o.Tags("appData"); err != nil {
		return nil, false, nil, err
	} else if ok || o.Has("appData") || !patch {
		ident.AppDataJson = nil
		if ok {
			ident.AppDataJson, _ = json.Marshal(v)
		}
		mark("appData")
	}
	tags, tagsOK, err := o.Tags("tags")
	if err != nil {
		return nil, false, nil, err
	}
	setTags := tagsOK || o.Has("tags") || !patch
	if setTags {
		mark("tags")
	}
	if v, ok, err := o.Strings("permissions"); err != nil {
		return nil, false, nil, err
	} else if ok && len(v) > 0 {
		return nil, false, nil, api.Invalid("permissions", "fine-grained permissions are not supported yet; use isAdmin", v)
	}
	return tags, setTags, set, nil
}

func (s *Server) createIdentity(w http.ResponseWriter, r *http.Request) error {
	o, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	ident := &pb.Identity{}
	tags, _, _, aerr := identityInput(o, ident, false)
	if aerr != nil {
		return aerr
	}
	reqs, aerr := identityEnrollmentInput(o)
	if aerr != nil {
		return aerr
	}
	id := uuid.NewString()
	op, err := fsm.CreateOp(fsm.KindIdentity, id, ident, tags)
	if err != nil {
		return api.Unhandled(err)
	}
	ops := []*pb.Op{op}
	// Enrollments are created in the same command as the identity, so an
	// identity never exists without the enrollment its creator asked for.
	err = s.store.View(func(rd *fsm.Reader) error {
		for _, req := range reqs {
			req.identityID = id
			e, aerr := s.newIdentityEnrollment(rd, req, false)
			if aerr != nil {
				return aerr
			}
			eop, err := fsm.CreateOp(fsm.KindEnrollment, uuid.NewString(), e, nil)
			if err != nil {
				return err
			}
			ops = append(ops, eop)
		}
		return nil
	})
	if err != nil {
		return api.As(err)
	}
	if aerr := s.apply(r, ops...); aerr != nil {
		return aerr
	}
	api.WriteCreated(w, "identities", id)
	return nil
}

// identityEnrollmentInput reads identityCreate.enrollment: {ott: true},
// {ottca: caId} and/or {updb: username}.
func identityEnrollmentInput(o api.Object) ([]enrollmentRequest, *api.Error) {
	if !o.Has("enrollment") || o.IsNull("enrollment") {
		return nil, nil
	}
	var raw json.RawMessage
	if _, aerr := o.Decode("enrollment", "api.Object", &raw); aerr != nil {
		return nil, aerr
	}
	var eo api.Object
	if err := json.Unmarshal(raw, &eo); err != nil || eo == nil {
		return nil, api.Invalid("enrollment", "must be an api.Object", nil)
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

// loadIdentity reads the identity named in the URL.
func (s *Server) loadIdentity(r *http.Request) (*fsm.Record, *pb.Identity, *api.Error) {
	rec, err := s.store.Get(fsm.KindIdentity, mux.Vars(r)["id"])
	if err != nil {
		return nil, nil, api.NotFoundOr(err)
	}
	ident, _ := fsm.As[*pb.Identity](rec)
	return rec, ident, nil
}

func (s *Server) getIdentity(w http.ResponseWriter, r *http.Request) error {
	var detail map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindIdentity, mux.Vars(r)["id"])
		if err != nil {
			return err
		}
		ident, _ := fsm.As[*pb.Identity](rec)
		detail, err = renderIdentity(rd, rec, ident)
		return err
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	api.WriteData(w, http.StatusOK, detail, api.Meta{})
	return nil
}

func (s *Server) updateIdentity(patch bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		rec, ident, aerr := s.loadIdentity(r)
		if aerr != nil {
			return aerr
		}
		o, aerr := api.DecodeObject(r)
		if aerr != nil {
			return aerr
		}
		if o.Has("enrollment") && !o.IsNull("enrollment") {
			return api.Invalid("enrollment", "enrollments are set at creation; use POST /enrollments for an existing identity", nil)
		}
		wasAdmin := ident.GetIsAdmin()
		tags, _, fields, aerr := identityInput(o, ident, patch)
		if aerr != nil {
			return aerr
		}
		if ident.GetIsDefaultAdmin() && wasAdmin && !ident.GetIsAdmin() {
			return api.Invalid("isAdmin", "the default admin cannot lose admin rights", false)
		}
		op, err := fsm.PatchOp(fsm.KindIdentity, rec.ID, ident, tags, fields...)
		if err != nil {
			return api.Unhandled(err)
		}
		return s.applyEmpty(w, r, op)
	}
}

func (s *Server) deleteIdentity(w http.ResponseWriter, r *http.Request) error {
	rec, ident, aerr := s.loadIdentity(r)
	if aerr != nil {
		return aerr
	}
	if ident.GetIsDefaultAdmin() {
		return &api.Error{Status: http.StatusConflict, Code: api.CodeConflict, Message: "the default admin cannot be deleted"}
	}
	// The store deletes the identity's authenticators and API sessions in
	// the same apply, so its sessions stop working on every node at once.
	return s.applyEmpty(w, r, fsm.DeleteOp(fsm.KindIdentity, rec.ID))
}

// disableIdentity disables an identity, for durationMinutes or (0) until it
// is enabled, and ends its API sessions in the same command.
func (s *Server) disableIdentity(w http.ResponseWriter, r *http.Request) error {
	rec, ident, aerr := s.loadIdentity(r)
	if aerr != nil {
		return aerr
	}
	o, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	minutes, ok, aerr := o.Int("durationMinutes", 0, 1<<31)
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
	sessions, err := s.sessionIDsOf(rec.ID)
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
	rec, ident, aerr := s.loadIdentity(r)
	if aerr != nil {
		return aerr
	}
	ident.Disabled, ident.DisabledAt, ident.DisabledUntil = false, 0, 0
	return s.writeDisabled(w, r, rec.ID, ident)
}

func (s *Server) sessionIDsOf(identityID string) ([]string, error) {
	var ids []string
	err := s.store.View(func(rd *fsm.Reader) error {
		var err error
		ids, err = rd.IDsByIndex(fsm.ApiSessionIdentity, identityID)
		return err
	})
	return ids, err
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
