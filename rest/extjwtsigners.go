package rest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"

	"github.com/go-openapi/jsonpointer"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// extJwtSigners declares /external-jwt-signers: outside identity providers
// whose JWTs log identities in (POST /authenticate?method=ext-jwt). A
// signer verifies with the key of certPem or the key set at jwksEndpoint,
// exactly one of them; its issuer is unique, since a token finds its signer
// by it. A signer an auth policy names cannot be deleted.
func (s *Server) extJwtSigners() *Resource {
	return &Resource{
		Kind: fsm.KindExtJwtSigner, Path: "external-jwt-signers",
		Fields: []Field{
			{Name: "name", Proto: "name", Type: String, Required: Always, NotNull: true, Index: fsm.ExtJwtSignerName},
			{Name: "enabled", Proto: "enabled", Type: Bool, Required: Always, NotNull: true},
			{Name: "issuer", Proto: "issuer", Type: String, Required: Always, NotNull: true, Index: fsm.ExtJwtSignerIssuer},
			{Name: "audience", Proto: "audience", Type: String, Required: Always, NotNull: true},
			{Name: "certPem", Proto: "cert_pem", Type: String, Max: 64 << 10, Nullable: true},
			{Name: "jwksEndpoint", Proto: "jwks_endpoint", Type: String, Max: 2048, Nullable: true},
			{Name: "kid", Proto: "kid", Type: String},
			{Name: "claimsProperty", Proto: "claims_property", Type: String, Default: "sub"},
			{Name: "useExternalId", Proto: "use_external_id", Type: Bool},
			{Name: "clientId", Proto: "client_id", Type: String},
			{Name: "scopes", Proto: "scopes", Type: Strings},
			{Name: "externalAuthUrl", Proto: "external_auth_url", Type: String, Max: 2048},
			{Name: "targetToken", Proto: "target_token", Type: Enum, Values: []string{"ACCESS", "ID"}, Default: "ACCESS"},
			{Name: "enrollToCertEnabled", Proto: "enroll_to_cert_enabled", Type: Bool},
			{Name: "enrollToTokenEnabled", Proto: "enroll_to_token_enabled", Type: Bool},
			{Name: "enrollNameClaimsSelector", Proto: "enroll_name_claims_selector", Type: String},
			{Name: "enrollAttributeClaimsSelector", Proto: "enroll_attribute_claims_selector", Type: String},
			{Name: "enrollAuthPolicyId", Proto: "enroll_auth_policy_id", Type: String},
			{Name: "fingerprint", Proto: "fingerprint", Type: String, Access: ReadOnly},
			{Name: "commonName", Proto: "common_name", Type: String, Access: ReadOnly},
			{Name: "notBefore", Proto: "not_before", Type: DateTime, Access: ReadOnly},
			{Name: "notAfter", Proto: "not_after", Type: DateTime, Access: ReadOnly},
		},
		Check:        checkExtJwtSigner,
		BeforeDelete: refuseExtJwtSignerDelete,
	}
}

// refuseExtJwtSignerDelete keeps a signer an auth policy names, with the
// spec's 400 (it documents no 409 here).
func refuseExtJwtSignerDelete(rd *fsm.Reader, rec *fsm.Record) ([]*pb.Op, error) {
	for _, ix := range []fsm.Multi{fsm.AuthPolicyAllowedSigners, fsm.AuthPolicySecondSigner} {
		users, err := rd.IDsByIndex(ix, rec.ID)
		if err != nil {
			return nil, err
		}
		if len(users) > 0 {
			return nil, api.Invalid("id", "auth policy "+users[0]+" names this signer; change the policy first", rec.ID)
		}
	}
	return nil, nil
}

// clientExtJwtSigners is the client API's view: the enabled signers, with
// what a client needs to obtain a token from them.
func (s *Server) clientExtJwtSigners() *Resource {
	all := s.extJwtSigners().Fields
	keep := map[string]bool{"name": true, "audience": true, "clientId": true, "scopes": true, "externalAuthUrl": true,
		"targetToken": true, "enrollToCertEnabled": true, "enrollToTokenEnabled": true}
	var fields []Field
	for _, f := range all {
		if keep[f.Name] {
			f.Access = ReadOnly
			fields = append(fields, f)
		}
	}
	return &Resource{
		Kind: fsm.KindExtJwtSigner, Path: "external-jwt-signers", Fields: fields,
		Scope: func(*http.Request) (Scope, error) {
			return Scope{Keep: func(rec *fsm.Record) bool { return rec.Body.(*pb.ExternalJwtSigner).GetEnabled() }}, nil
		},
	}
}

// checkExtJwtSigner: exactly one of certPem and jwksEndpoint; a certificate
// whose key can verify signatures (its facts are stored beside it); a JWKS
// URL over https (plain http only to loopback); an existing enrollment
// auth policy.
func checkExtJwtSigner(w *Write) error {
	sg := w.Body.(*pb.ExternalJwtSigner)
	if (sg.GetCertPem() == "") == (sg.GetJwksEndpoint() == "") {
		field := "certPem"
		if w.In.Has("jwksEndpoint") {
			field = "jwksEndpoint"
		}
		return api.Invalid(field, "give exactly one of certPem and jwksEndpoint", nil)
	}
	if sg.GetJwksEndpoint() != "" {
		if err := edge.CheckJwksURL(sg.GetJwksEndpoint()); err != nil {
			return api.Invalid("jwksEndpoint", err.Error(), sg.GetJwksEndpoint())
		}
		sg.Fingerprint, sg.CommonName, sg.NotBefore, sg.NotAfter = "", "", 0, 0
	} else {
		cert, aerr := parseClientCert("certPem", sg.GetCertPem())
		if aerr != nil {
			return aerr
		}
		switch cert.PublicKey.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return api.Invalid("certPem", "its key is of a type that cannot verify JWTs", nil)
		}
		if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
			return api.Invalid("certPem", "its key usage does not allow digital signatures", nil)
		}
		sg.Fingerprint, sg.CommonName = pki.Fingerprint(cert), cert.Subject.CommonName
		sg.NotBefore, sg.NotAfter = cert.NotBefore.UnixNano(), cert.NotAfter.UnixNano()
	}
	w.Set("fingerprint", "common_name", "not_before", "not_after")
	for field, sel := range map[string]string{"claimsProperty": sg.GetClaimsProperty(), "enrollNameClaimsSelector": sg.GetEnrollNameClaimsSelector(),
		"enrollAttributeClaimsSelector": sg.GetEnrollAttributeClaimsSelector()} {
		if sel == "" {
			continue
		}
		if !strings.HasPrefix(sel, "/") {
			sel = "/" + sel
		}
		if _, err := jsonpointer.New(sel); err != nil {
			return api.Invalid(field, "must be a claim name or a JSON pointer into the claims", sel)
		}
	}
	// Token enrollment gives identities the token's id claim as external
	// id; without useExternalId their tokens would never log them in.
	if sg.GetEnrollToTokenEnabled() && !sg.GetUseExternalId() {
		return api.Invalid("useExternalId", "enrollToTokenEnabled needs useExternalId: enrolled identities log in by external id", false)
	}
	// Enrollment creates identities under the enroll policy, which must
	// allow what they will log in with.
	if sg.GetEnrollToCertEnabled() || sg.GetEnrollToTokenEnabled() || sg.GetEnrollAuthPolicyId() != "" {
		policy, err := authPolicyOf(w.Reader, &pb.Identity{AuthPolicyId: sg.GetEnrollAuthPolicyId()})
		if errors.Is(err, fsm.ErrNotFound) {
			return api.Invalid("enrollAuthPolicyId", "no auth policy with this id exists", sg.GetEnrollAuthPolicyId())
		}
		if err != nil {
			return err
		}
		if sg.GetEnrollToCertEnabled() && !policy.GetPrimary().GetCert().GetAllowed() {
			return api.Invalid("enrollToCertEnabled", "the enroll auth policy "+policy.GetName()+" does not allow certificates", nil)
		}
		if sg.GetEnrollToTokenEnabled() && !policy.GetPrimary().GetExtJwt().GetAllowed() {
			return api.Invalid("enrollToTokenEnabled", "the enroll auth policy "+policy.GetName()+" does not allow external JWTs", nil)
		}
	}
	return nil
}
