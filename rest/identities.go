package rest

import (
	"encoding/json"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// defaultAuthPolicyID is OpenZiti's built-in auth policy every identity
// uses unless given another.
const defaultAuthPolicyID = "default"

// renderIdentity renders the spec's identityDetail, reading the identity's
// authenticators from the same consistent view.
func renderIdentity(rd *fsm.Reader, rec *fsm.Record, ident *pb.Identity) (map[string]any, error) {
	d := baseEntity(rec, "identities")
	typeID := ident.GetTypeId()
	if typeID == "" {
		typeID = "Default"
	}
	authPolicy := ident.GetAuthPolicyId()
	if authPolicy == "" {
		authPolicy = defaultAuthPolicyID
	}
	authenticators := map[string]any{}
	ids, err := rd.IDsByIndex(fsm.AuthenticatorIdentity, rec.ID)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		arec, err := rd.Get(fsm.KindAuthenticator, id)
		if err != nil {
			return nil, err
		}
		a, _ := fsm.As[*pb.Authenticator](arec)
		switch a.GetMethod() {
		case "updb":
			authenticators["updb"] = map[string]any{"id": id, "username": a.GetUsername()}
		case "cert":
			authenticators["cert"] = map[string]any{"id": id, "fingerprint": a.GetFingerprint()}
		}
	}
	roles := ident.GetRoleAttributes()
	if roles == nil {
		roles = []string{}
	}
	precedences := map[string]any{}
	for k, v := range ident.GetServiceHostingPrecedences() {
		precedences[k] = v
	}
	costs := map[string]any{}
	for k, v := range ident.GetServiceHostingCosts() {
		costs[k] = v
	}
	appData := map[string]any{}
	if len(ident.GetAppDataJson()) > 0 {
		_ = json.Unmarshal(ident.GetAppDataJson(), &appData)
	}
	var externalID, disabledAt, disabledUntil any
	if ident.GetExternalId() != "" {
		externalID = ident.GetExternalId()
	}
	if ident.GetDisabledAt() != 0 {
		disabledAt = api.Time(time.Unix(0, ident.GetDisabledAt()))
	}
	if ident.GetDisabledUntil() != 0 {
		disabledUntil = api.Time(time.Unix(0, ident.GetDisabledUntil()))
	}
	defaultPrecedence := ident.GetDefaultHostingPrecedence()
	if defaultPrecedence == "" {
		defaultPrecedence = "default"
	}
	d["name"] = ident.GetName()
	d["type"] = entityRef("identity-types", typeID, typeID)
	d["typeId"] = typeID
	d["isAdmin"] = ident.GetIsAdmin()
	d["isDefaultAdmin"] = ident.GetIsDefaultAdmin()
	d["authenticators"] = authenticators
	enrollment, err := identityEnrollments(rd, rec.ID)
	if err != nil {
		return nil, err
	}
	d["enrollment"] = enrollment
	d["envInfo"] = map[string]any{}
	d["sdkInfo"] = map[string]any{}
	d["roleAttributes"] = roles
	d["hasEdgeRouterConnection"] = false
	d["edgeRouterConnectionStatus"] = "offline"
	sessions, err := rd.IDsByIndex(fsm.ApiSessionIdentity, rec.ID)
	if err != nil {
		return nil, err
	}
	d["hasApiSession"] = len(sessions) > 0
	d["isMfaEnabled"] = false
	d["serviceHostingPrecedences"] = precedences
	d["serviceHostingCosts"] = costs
	d["defaultHostingPrecedence"] = defaultPrecedence
	d["defaultHostingCost"] = ident.GetDefaultHostingCost()
	d["authPolicyId"] = authPolicy
	d["authPolicy"] = entityRef("auth-policies", authPolicy, "Default")
	d["externalId"] = externalID
	d["disabled"] = ident.GetDisabled()
	d["disabledAt"] = disabledAt
	d["disabledUntil"] = disabledUntil
	d["permissions"] = []string{}
	d["appData"] = appData
	return d, nil
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
		e, _ := fsm.As[*pb.Enrollment](rec)
		v := map[string]any{"id": id, "jwt": e.GetJwt(), "token": e.GetToken(),
			"expiresAt": api.Time(time.Unix(0, e.GetExpiresAt()))}
		if e.GetCaId() != "" {
			v["caId"] = e.GetCaId()
			v["ca"] = entityRef("cas", e.GetCaId(), entityName(rd, fsm.KindCa, e.GetCaId()))
		}
		out[e.GetMethod()] = v
	}
	return out, nil
}
