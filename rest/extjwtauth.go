package rest

import (
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// authenticateExtJwt answers POST /authenticate?method=ext-jwt with
// "Authorization: Bearer <jwt>": a token of an enabled external signer,
// chosen by the token's issuer, verified with the signer's certificate key
// or its key set, logs in the identity its claim names, if that identity's
// auth policy allows the signer. Every refusal is the same 401 (the reason
// is logged at debug), and no session is created.
func (s *Server) authenticateExtJwt(w http.ResponseWriter, r *http.Request) error {
	req, aerr := decodeAuthenticateRequest(r)
	if aerr != nil {
		return aerr
	}
	ident, err := s.extJwtIdentity(r)
	if err != nil {
		s.log.Debug("ext-jwt login refused", "requestId", api.RequestID(r), "err", err)
		return api.InvalidAuth()
	}
	return s.startSession(w, r, req, ident, "")
}

// extJwtIdentity verifies the request's bearer token and finds the
// identity it logs in; an error says why not.
func (s *Server) extJwtIdentity(r *http.Request) (*identityRec, error) {
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return nil, errors.New("no bearer token")
	}
	issuer, kid, err := edge.UnverifiedIssuerAndKid(token)
	if err != nil {
		return nil, fmt.Errorf("unreadable token: %w", err)
	}
	var signerID string
	var signer *pb.ExternalJwtSigner
	err = s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Lookup(fsm.ExtJwtSignerIssuer, issuer)
		if err != nil {
			return err
		}
		signerID, signer = rec.ID, rec.Body.(*pb.ExternalJwtSigner)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("no signer of issuer %q: %w", issuer, err)
	}
	if !signer.GetEnabled() {
		return nil, fmt.Errorf("signer %s is disabled", signerID)
	}
	// The key is fetched outside any read view: a key set may take a
	// network round trip.
	var key crypto.PublicKey
	if signer.GetCertPem() != "" {
		if signer.GetKid() != "" && kid != "" && kid != signer.GetKid() {
			return nil, fmt.Errorf("token key id %q is not the signer's %q", kid, signer.GetKid())
		}
		cert, aerr := parseClientCert("certPem", signer.GetCertPem())
		if aerr != nil {
			return nil, aerr
		}
		key = cert.PublicKey
	} else if key, err = s.jwks.Key(r.Context(), signer.GetJwksEndpoint(), kid); err != nil {
		return nil, err
	}
	claims, err := edge.VerifyExtJwt(token, key, signer.GetIssuer(), signer.GetAudience())
	if err != nil {
		return nil, fmt.Errorf("token of signer %s: %w", signerID, err)
	}
	prop := signer.GetClaimsProperty()
	if prop == "" {
		prop = "sub"
	}
	name, _ := claims[prop].(string)
	if name == "" {
		return nil, fmt.Errorf("token has no string claim %q", prop)
	}
	var ident *identityRec
	err = s.store.View(func(rd *fsm.Reader) error {
		var rec *fsm.Record
		var err error
		if signer.GetUseExternalId() {
			rec, err = rd.Lookup(fsm.IdentityExternalID, name)
		} else {
			rec, err = rd.Get(fsm.KindIdentity, name)
		}
		if err != nil {
			return fmt.Errorf("no identity %q: %w", name, err)
		}
		ident = &identityRec{rec, rec.Body.(*pb.Identity)}
		policy, err := authPolicyOf(rd, ident.body)
		if err != nil {
			return err
		}
		ext := policy.GetPrimary().GetExtJwt()
		if !ext.GetAllowed() || (len(ext.GetAllowedSigners()) > 0 && !slices.Contains(ext.GetAllowedSigners(), signerID)) {
			return fmt.Errorf("auth policy %s does not allow signer %s", policy.GetName(), signerID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if edge.IsDisabled(ident.body, time.Now()) {
		return nil, errors.New("the identity is disabled")
	}
	return ident, nil
}
