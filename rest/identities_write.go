package rest

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
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
	r.Handle("/identities", s.admin(handle(s.createIdentity))).Methods(http.MethodPost)
	r.Handle("/identities/{id}", s.admin(handle(s.getIdentity))).Methods(http.MethodGet)
	r.Handle("/identities/{id}", s.admin(handle(s.updateIdentity(false)))).Methods(http.MethodPut)
	r.Handle("/identities/{id}", s.admin(handle(s.updateIdentity(true)))).Methods(http.MethodPatch)
	r.Handle("/identities/{id}", s.admin(handle(s.deleteIdentity))).Methods(http.MethodDelete)
	r.Handle("/identities/{id}/disable", s.admin(handle(s.disableIdentity))).Methods(http.MethodPost)
	r.Handle("/identities/{id}/enable", s.admin(handle(s.enableIdentity))).Methods(http.MethodPost)
	r.Handle("/identity-types", s.admin(handle(s.listIdentityTypes))).Methods(http.MethodGet)
	r.Handle("/identity-types/{id}", s.admin(handle(s.getIdentityType))).Methods(http.MethodGet)
}

// identityInput reads an identityCreate/Update/Patch body into ident (which
// holds the current values for an update) and returns the tags, whether
// tags were given, and the proto fields that were set.
func identityInput(o object, ident *pb.Identity, patch bool) (map[string]any, bool, []string, *APIError) {
	var set []string
	mark := func(field string) { set = append(set, identityFields[field]) }
	required := func(field string) *APIError {
		if !patch && !o.has(field) {
			return errField(field, field+" is required", nil)
		}
		if o.isNull(field) && (field == "name" || field == "type" || !patch) {
			return errField(field, field+" must not be null", nil)
		}
		return nil
	}
	for _, f := range []string{"name", "type", "isAdmin"} {
		if err := required(f); err != nil {
			return nil, false, nil, err
		}
	}
	if v, ok, err := o.str("name"); err != nil {
		return nil, false, nil, err
	} else if ok {
		if v == "" || badText(v) != "" {
			return nil, false, nil, errField("name", "must be non-empty text", v)
		}
		ident.Name = v
		mark("name")
	}
	if v, ok, err := o.str("type"); err != nil {
		return nil, false, nil, err
	} else if ok {
		if !slices.Contains(identityTypes, v) {
			return nil, false, nil, errField("type", "must be one of User, Device, Service, Router, Default", v)
		}
		ident.TypeId = v
		mark("type")
	}
	if v, ok, err := o.boolean("isAdmin"); err != nil {
		return nil, false, nil, err
	} else if ok || (!patch && o.has("isAdmin")) {
		ident.IsAdmin = v
		mark("isAdmin")
	}
	if v, ok, err := o.strings("roleAttributes"); err != nil {
		return nil, false, nil, err
	} else if ok || o.has("roleAttributes") || !patch {
		ident.RoleAttributes = v
		mark("roleAttributes")
	}
	if v, ok, err := o.str("authPolicyId"); err != nil {
		return nil, false, nil, err
	} else if ok || o.has("authPolicyId") || !patch {
		// Auth policies are not modelled yet: only the built-in one exists.
		if ok && v != defaultAuthPolicyID {
			return nil, false, nil, errField("authPolicyId", "no auth policy with this id exists; only \"default\" is available", v)
		}
		ident.AuthPolicyId = ""
		mark("authPolicyId")
	}
	if v, ok, err := o.str("externalId"); err != nil {
		return nil, false, nil, err
	} else if ok || o.has("externalId") || !patch {
		if badText(v) != "" {
			return nil, false, nil, errField("externalId", badText(v), nil)
		}
		ident.ExternalId = v
		mark("externalId")
	}
	if v, ok, err := o.integer("defaultHostingCost", 0, 65535); err != nil {
		return nil, false, nil, err
	} else if ok || o.has("defaultHostingCost") || !patch {
		ident.DefaultHostingCost = v
		mark("defaultHostingCost")
	}
	if v, ok, err := o.str("defaultHostingPrecedence"); err != nil {
		return nil, false, nil, err
	} else if ok || o.has("defaultHostingPrecedence") || !patch {
		if ok && !slices.Contains(terminatorPrecedences, v) {
			return nil, false, nil, errField("defaultHostingPrecedence", "must be default, required or failed", v)
		}
		ident.DefaultHostingPrecedence = v
		mark("defaultHostingPrecedence")
	}
	var costs map[string]int64
	if ok, err := o.get("serviceHostingCosts", "an object of integers", &costs); err != nil {
		return nil, false, nil, err
	} else if ok || o.has("serviceHostingCosts") || !patch {
		for svc, c := range costs {
			if c < 0 || c > 65535 {
				return nil, false, nil, errField("serviceHostingCosts."+svc, "must be between 0 and 65535", c)
			}
		}
		ident.ServiceHostingCosts = costs
		mark("serviceHostingCosts")
	}
	var precedences map[string]string
	if ok, err := o.get("serviceHostingPrecedences", "an object of strings", &precedences); err != nil {
		return nil, false, nil, err
	} else if ok || o.has("serviceHostingPrecedences") || !patch {
		for svc, p := range precedences {
			if !slices.Contains(terminatorPrecedences, p) {
				return nil, false, nil, errField("serviceHostingPrecedences."+svc, "must be default, required or failed", p)
			}
		}
		ident.ServiceHostingPrecedences = precedences
		mark("serviceHostingPrecedences")
	}
	if v, ok, err := o.tagMap("appData"); err != nil {
		return nil, false, nil, err
	} else if ok || o.has("appData") || !patch {
		ident.AppDataJson = nil
		if ok {
			ident.AppDataJson, _ = json.Marshal(v)
		}
		mark("appData")
	}
	tags, tagsOK, err := o.tagMap("tags")
	if err != nil {
		return nil, false, nil, err
	}
	setTags := tagsOK || o.has("tags") || !patch
	if setTags {
		mark("tags")
	}
	if v, ok, err := o.strings("permissions"); err != nil {
		return nil, false, nil, err
	} else if ok && len(v) > 0 {
		return nil, false, nil, errField("permissions", "fine-grained permissions are not supported yet; use isAdmin", v)
	}
	return tags, setTags, set, nil
}

func (s *Server) createIdentity(w http.ResponseWriter, r *http.Request) error {
	o, aerr := decodeObject(r)
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
		return errUnhandled(err)
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
		return asAPIError(err)
	}
	if aerr := s.apply(r, ops...); aerr != nil {
		return aerr
	}
	writeCreated(w, "identities", id)
	return nil
}

// identityEnrollmentInput reads identityCreate.enrollment: {ott: true},
// {ottca: caId} and/or {updb: username}.
func identityEnrollmentInput(o object) ([]enrollmentRequest, *APIError) {
	if !o.has("enrollment") || o.isNull("enrollment") {
		return nil, nil
	}
	var raw json.RawMessage
	if _, aerr := o.get("enrollment", "object", &raw); aerr != nil {
		return nil, aerr
	}
	var eo object
	if err := json.Unmarshal(raw, &eo); err != nil || eo == nil {
		return nil, errField("enrollment", "must be an object", nil)
	}
	exp := time.Now().Add(defaultEnrollmentLifetime)
	var reqs []enrollmentRequest
	ott, _, aerr := eo.boolean("ott")
	if aerr != nil {
		return nil, prefixField("enrollment.", aerr)
	}
	if ott {
		reqs = append(reqs, enrollmentRequest{method: methodOTT, expiresAt: exp})
	}
	if caID, ok, aerr := eo.str("ottca"); aerr != nil {
		return nil, prefixField("enrollment.", aerr)
	} else if ok && caID != "" {
		if ott {
			return nil, errField("enrollment.ottca", "ott and ottca both create a certificate; choose one", caID)
		}
		reqs = append(reqs, enrollmentRequest{method: methodOTTCA, caID: caID, expiresAt: exp})
	}
	if username, ok, aerr := eo.str("updb"); aerr != nil {
		return nil, prefixField("enrollment.", aerr)
	} else if ok && username != "" {
		reqs = append(reqs, enrollmentRequest{method: methodUPDB, username: username, expiresAt: exp})
	}
	return reqs, nil
}

// prefixField qualifies the field of a nested object's validation error.
func prefixField(prefix string, aerr *APIError) *APIError {
	if aerr.Cause != nil {
		aerr.Cause.Field = prefix + aerr.Cause.Field
		aerr.CauseMessage = prefix + aerr.CauseMessage
	}
	return aerr
}

// writeCreated answers the spec's createEnvelope.
func writeCreated(w http.ResponseWriter, urlName, id string) {
	writeData(w, http.StatusCreated, map[string]any{"id": id, "_links": links("./" + urlName + "/" + id)}, meta{})
}

// loadIdentity reads the identity named in the URL.
func (s *Server) loadIdentity(r *http.Request) (*fsm.Record, *pb.Identity, *APIError) {
	rec, err := s.store.Get(fsm.KindIdentity, mux.Vars(r)["id"])
	if err != nil {
		return nil, nil, errNotFoundOr(err)
	}
	ident, _ := fsm.As[*pb.Identity](rec)
	return rec, ident, nil
}

func errNotFoundOr(err error) *APIError {
	if isNotFound(err) {
		return errNotFound()
	}
	return errUnhandled(err)
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
		return errNotFoundOr(err)
	}
	writeData(w, http.StatusOK, detail, meta{})
	return nil
}

func (s *Server) updateIdentity(patch bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		rec, ident, aerr := s.loadIdentity(r)
		if aerr != nil {
			return aerr
		}
		o, aerr := decodeObject(r)
		if aerr != nil {
			return aerr
		}
		if o.has("enrollment") && !o.isNull("enrollment") {
			return errField("enrollment", "enrollments are set at creation; use POST /enrollments for an existing identity", nil)
		}
		wasAdmin := ident.GetIsAdmin()
		tags, _, fields, aerr := identityInput(o, ident, patch)
		if aerr != nil {
			return aerr
		}
		if ident.GetIsDefaultAdmin() && wasAdmin && !ident.GetIsAdmin() {
			return errField("isAdmin", "the default admin cannot lose admin rights", false)
		}
		op, err := fsm.PatchOp(fsm.KindIdentity, rec.ID, ident, tags, fields...)
		if err != nil {
			return errUnhandled(err)
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
		return &APIError{Status: http.StatusConflict, Code: CodeConflict, Message: "the default admin cannot be deleted"}
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
	o, aerr := decodeObject(r)
	if aerr != nil {
		return aerr
	}
	minutes, ok, aerr := o.integer("durationMinutes", 0, 1<<31)
	if aerr != nil {
		return aerr
	}
	if !ok {
		return errField("durationMinutes", "durationMinutes is required", nil)
	}
	if ident.GetIsDefaultAdmin() {
		return errField("id", "the default admin cannot be disabled", rec.ID)
	}
	now := time.Now()
	ident.Disabled, ident.DisabledAt, ident.DisabledUntil = true, now.UnixNano(), 0
	if minutes > 0 {
		ident.DisabledUntil = now.Add(time.Duration(minutes) * time.Minute).UnixNano()
	}
	sessions, err := s.sessionIDsOf(rec.ID)
	if err != nil {
		return errUnhandled(err)
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
		return errUnhandled(err)
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

// isDisabled reports whether the identity may not log in or use sessions now.
func isDisabled(ident *pb.Identity, now time.Time) bool {
	if !ident.GetDisabled() {
		return false
	}
	return ident.GetDisabledUntil() == 0 || now.UnixNano() < ident.GetDisabledUntil()
}

// identityTypeEpoch is the fixed createdAt of the built-in identity types.
var identityTypeEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func renderIdentityType(name string) map[string]any {
	return map[string]any{
		"id": name, "name": name, "createdAt": apiTime(identityTypeEpoch), "updatedAt": apiTime(identityTypeEpoch),
		"tags": map[string]any{}, "_links": links("./identity-types/" + name),
	}
}

func (s *Server) listIdentityTypes(w http.ResponseWriter, r *http.Request) error {
	out := make([]map[string]any, 0, len(identityTypes))
	for _, t := range identityTypes {
		out = append(out, renderIdentityType(t))
	}
	n := int64(len(out))
	writeData(w, http.StatusOK, out, meta{Pagination: &pagination{Limit: max(n, 10), TotalCount: n}})
	return nil
}

func (s *Server) getIdentityType(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	if !slices.Contains(identityTypes, id) {
		return errNotFound()
	}
	writeData(w, http.StatusOK, renderIdentityType(id), meta{})
	return nil
}
