package rest

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-openapi/jsonpointer"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// extJwtLogin is the login of "Authorization: Bearer <jwt>"
// (/authenticate?method=ext-jwt, /oidc/login/ext-jwt): a token of an enabled external signer,
// chosen by the token's issuer, verified with the signer's certificate key
// or its key set, logs in the identity its claim names, if that identity's
// auth policy allows the signer. Every refusal is the same 401 (the reason
// is logged at debug), and no session is created.
func (s *Server) extJwtLogin(w http.ResponseWriter, r *http.Request, req *authenticateRequest, done loginDone) error {
	ident, err := s.extJwtIdentity(r)
	if err != nil {
		s.log.Debug("ext-jwt login refused", "requestId", api.RequestID(r), "err", err)
		return api.InvalidAuth()
	}
	return done(w, r, req, ident, "")
}

// extJwtIdentity verifies the request's bearer token and finds the
// identity it logs in; an error says why not.
func (s *Server) extJwtIdentity(r *http.Request) (*identityRec, error) {
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return nil, errors.New("no bearer token")
	}
	signerID, signer, claims, err := s.verifyExtToken(r.Context(), token, "")
	if err != nil {
		return nil, err
	}
	name, err := claimString(claims, signer.GetClaimsProperty())
	if err != nil {
		return nil, err
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
		if !policyAllowsSigner(policy, signerID) {
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

// policyAllowsSigner: the policy allows external JWTs, of any signer or of
// signerID among its allowed ones.
func policyAllowsSigner(policy *pb.AuthPolicy, signerID string) bool {
	ext := policy.GetPrimary().GetExtJwt()
	return ext.GetAllowed() && (len(ext.GetAllowedSigners()) == 0 || slices.Contains(ext.GetAllowedSigners(), signerID))
}

// verifyExtToken verifies an external token with its enabled signer: the
// one named signerID, else the one of the token's issuer. The signer's key
// is fetched outside any read view (a key set may take a network round
// trip).
func (s *Server) verifyExtToken(ctx context.Context, token, signerID string) (string, *pb.ExternalJwtSigner, edge.ExtJwtClaims, error) {
	issuer, kid, err := edge.UnverifiedIssuerAndKid(token)
	if err != nil {
		return "", nil, nil, fmt.Errorf("unreadable token: %w", err)
	}
	var signer *pb.ExternalJwtSigner
	err = s.store.View(func(rd *fsm.Reader) error {
		var rec *fsm.Record
		var err error
		if signerID != "" {
			rec, err = rd.Get(fsm.KindExtJwtSigner, signerID)
		} else {
			rec, err = rd.Lookup(fsm.ExtJwtSignerIssuer, issuer)
		}
		if err != nil {
			return err
		}
		signerID, signer = rec.ID, rec.Body.(*pb.ExternalJwtSigner)
		return nil
	})
	if err != nil {
		return "", nil, nil, fmt.Errorf("no signer %q of issuer %q: %w", signerID, issuer, err)
	}
	if !signer.GetEnabled() {
		return "", nil, nil, fmt.Errorf("signer %s is disabled", signerID)
	}
	// A token of another issuer (the access token beside a second factor)
	// is not this signer's: refused before its key id sends a key set
	// fetch.
	if issuer != signer.GetIssuer() {
		return "", nil, nil, fmt.Errorf("token issuer %q is not signer %s's", issuer, signerID)
	}
	var key crypto.PublicKey
	if signer.GetCertPem() != "" {
		if signer.GetKid() != "" && kid != "" && kid != signer.GetKid() {
			return "", nil, nil, fmt.Errorf("token key id %q is not the signer's %q", kid, signer.GetKid())
		}
		cert, aerr := parseClientCert("certPem", signer.GetCertPem())
		if aerr != nil {
			return "", nil, nil, aerr
		}
		key = cert.PublicKey
	} else if key, err = s.jwks.Key(ctx, signer.GetJwksEndpoint(), kid); err != nil {
		return "", nil, nil, err
	}
	claims, err := edge.VerifyExtJwt(token, key, signer.GetIssuer(), signer.GetAudience())
	if err != nil {
		return "", nil, nil, fmt.Errorf("token of signer %s: %w", signerID, err)
	}
	return signerID, signer, claims, nil
}

// claimAt reads the claim a selector names: a JSON pointer into the
// claims, its leading "/" optional (OpenZiti's claimsProperty and enroll
// selectors); "" means def.
func claimAt(claims edge.ExtJwtClaims, selector, def string) (any, error) {
	if selector == "" {
		selector = def
	}
	if !strings.HasPrefix(selector, "/") {
		selector = "/" + selector
	}
	ptr, err := jsonpointer.New(selector)
	if err != nil {
		return nil, fmt.Errorf("claims selector %q: %w", selector, err)
	}
	v, _, err := ptr.Get(map[string]any(claims))
	if err != nil {
		return nil, fmt.Errorf("token has no claim %s", selector)
	}
	return v, nil
}

// claimString is the non-empty string claim selector names (default /sub).
func claimString(claims edge.ExtJwtClaims, selector string) (string, error) {
	v, err := claimAt(claims, selector, "/sub")
	if err != nil {
		return "", err
	}
	str, _ := v.(string)
	if str == "" {
		return "", fmt.Errorf("claim %q is not a non-empty string", selector)
	}
	return str, nil
}

// extJwtQuery is the auth query of a secondary external JWT the request
// lacks: the signer's id and where a client gets such a token.
func (s *Server) extJwtQuery(signerID string) map[string]any {
	q := map[string]any{"typeId": "EXT-JWT", "provider": "url", "id": signerID}
	if rec, err := s.store.Get(fsm.KindExtJwtSigner, signerID); err == nil {
		sg := rec.Body.(*pb.ExternalJwtSigner)
		q["httpUrl"], q["clientId"], q["scopes"] = sg.GetExternalAuthUrl(), sg.GetClientId(), nonNil(sg.GetScopes())
	}
	return q
}

// addSecondaryQuery adds to a session view the auth query of the
// secondary external JWT the identity's policy requires, unless the
// request carries a valid one.
func (s *Server) addSecondaryQuery(r *http.Request, d map[string]any, ident *identityRec) {
	policy, err := s.loginPolicy(ident)
	signerID := policy.GetSecondary().GetRequireExtJwtSigner()
	if err != nil || signerID == "" || s.hasSecondaryJwt(r, signerID, ident.rec.ID, ident.body) {
		return
	}
	queries, _ := d["authQueries"].([]any)
	d["authQueries"] = append(queries, s.extJwtQuery(signerID))
}

// keySetFetcher returns the edge.Fetcher of the JWKS cache: servers
// verified against the system roots, no redirects (a key set is where the
// signer says it is, and a redirect could point a node at its own
// network), a bounded time and size.
func keySetFetcher() edge.Fetcher {
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return errors.New("key set endpoints may not redirect")
	}}
	return func(ctx context.Context, url string, limit int64) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("status %d", resp.StatusCode)
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return nil, err
		}
		if int64(len(raw)) > limit {
			return nil, fmt.Errorf("larger than %d bytes", limit)
		}
		return raw, nil
	}
}
