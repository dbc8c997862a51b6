package rest

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// OpenZiti's codes for a token enrollment that would create an identity
// that exists, and one its signer or auth policy does not allow.
const (
	codeAlreadyEnrolled      = "ENROLLMENT_IDENTITY_ALREADY_ENROLLED"
	codeEnrollmentNotAllowed = "ENROLLMENT_NOT_ALLOWED"
)

// enrollToken answers POST /enroll/token: an external signer's JWT
// (Authorization: Bearer; the signer named by the ziti-token-issuer-id
// header, else by the token's issuer) creates the identity it describes:
// externalId the token's id claim (claimsProperty, default /sub), name and
// role attributes from the signer's enroll selectors, the signer's enroll
// auth policy. With clientCsr (the signer allowing enrollToCert, the policy
// certificates) the identity also gets a certificate signed from the CSR,
// answered with the CA; without (enrollToToken, the policy this signer's
// JWTs), it logs in with such tokens from then on. One command.
func (s *Server) enrollToken(w http.ResponseWriter, r *http.Request) error {
	in, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	csrPEM, _, aerr := in.String("clientCsr")
	if aerr != nil {
		return aerr
	}
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return errInvalidToken()
	}
	signerID, signer, claims, err := s.verifyExtToken(r.Context(), token, r.Header.Get("ziti-token-issuer-id"))
	if err != nil {
		s.log.Debug("token enrollment refused", "requestId", api.RequestID(r), "err", err)
		return errInvalidToken()
	}
	externalID, err := claimString(claims, signer.GetClaimsProperty())
	if err != nil {
		return errInvalidToken()
	}
	name, err := claimString(claims, signer.GetEnrollNameClaimsSelector())
	if err != nil {
		return errInvalidToken()
	}
	attrs, err := claimAttributes(claims, signer.GetEnrollAttributeClaimsSelector())
	if err != nil {
		return errInvalidToken()
	}
	withCert := strings.TrimSpace(csrPEM) != ""
	var policy *pb.AuthPolicy
	err = s.store.View(func(rd *fsm.Reader) error {
		if _, err := rd.Lookup(fsm.IdentityExternalID, externalID); err == nil {
			return &api.Error{Status: http.StatusConflict, Code: codeAlreadyEnrolled, Message: "An identity with this token's external id is already enrolled"}
		} else if !errors.Is(err, fsm.ErrNotFound) {
			return err
		}
		policy, err = authPolicyOf(rd, &pb.Identity{AuthPolicyId: signer.GetEnrollAuthPolicyId()})
		return err
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	if withCert && !(signer.GetEnrollToCertEnabled() && policy.GetPrimary().GetCert().GetAllowed()) ||
		!withCert && !(signer.GetEnrollToTokenEnabled() && policyAllowsSigner(policy, signerID)) {
		return &api.Error{Status: http.StatusBadRequest, Code: codeEnrollmentNotAllowed,
			Message: "The signer or the auth policy it enrolls under does not allow this enrollment"}
	}
	identityID := uuid.NewString()
	policyID := signer.GetEnrollAuthPolicyId()
	if policyID == fsm.DefaultAuthPolicyID {
		policyID = ""
	}
	create, err := fsm.CreateOp(fsm.KindIdentity, identityID, &pb.Identity{Name: name, TypeId: "Default", RoleAttributes: attrs,
		AuthPolicyId: policyID, ExternalId: externalID}, nil)
	if err != nil {
		return api.Unhandled(err)
	}
	ops := []*pb.Op{create}
	out := map[string]any{}
	if withCert {
		sc, aerr := s.signClientCSR("clientCsr", csrPEM, identityID, 0)
		if aerr != nil {
			return aerr
		}
		auth, err := fsm.CreateOp(fsm.KindAuthenticator, uuid.NewString(), &pb.Authenticator{IdentityId: identityID, Method: "cert",
			IsIssuedByNetwork: true, CertPem: string(pki.EncodeCertificatesPEM(sc.cert)), Fingerprint: pki.Fingerprint(sc.cert)}, nil)
		if err != nil {
			return api.Unhandled(err)
		}
		ops = append(ops, auth)
		out["cert"], out["ca"] = sc.chainPEM, sc.caPEM
	}
	res, aerr := s.applyResult(r, ops...)
	if aerr != nil {
		return aerr
	}
	if res.GetCode() == pb.Result_CONFLICT {
		return &api.Error{Status: http.StatusConflict, Code: codeAlreadyEnrolled,
			Message: "An identity with this token's name or external id exists", Cause: &api.FieldError{Field: res.GetField(), Value: res.GetValue()}}
	}
	if aerr := api.FromResult(res); aerr != nil {
		return aerr
	}
	api.WriteData(w, http.StatusOK, out, api.Meta{})
	return nil
}

// claimAttributes reads role attributes: a string claim is one, an array
// of strings several (empty ones dropped); no selector, none.
func claimAttributes(claims map[string]any, selector string) ([]string, error) {
	if selector == "" {
		return nil, nil
	}
	v, err := claimAt(claims, selector, "")
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case string:
		if v == "" {
			return nil, nil
		}
		return []string{v}, nil
	case []any:
		var out []string
		for _, a := range v {
			str, ok := a.(string)
			if !ok {
				return nil, errors.New("attribute claim holds a non-string")
			}
			if str != "" {
				out = append(out, str)
			}
		}
		return out, nil
	}
	return nil, errors.New("attribute claim is neither a string nor an array of strings")
}
