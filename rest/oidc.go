package rest

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// OIDCBase is where every node serves OAuth 2.0 and OpenID Connect, as
// OpenZiti does: discovery, /authorize with the login steps of
// rest/oidclogin.go, the token endpoint, revocation, end of session and the
// key set. zitadel/oidc's op.Server parses and routes the standard
// requests and writes OAuth errors; the methods below decide.
//
// Nothing of a flow is kept on the node that started it: the auth request
// id and the code are JWTs signed by the node that issued them, which
// every node verifies, and the grant is an API session in the replicated
// state whose one-time secret (the code, then the newest refresh token)
// GrantRotate spends. So every step may reach another node, and revoking
// any token of a grant deletes its session, refused everywhere at once.
const OIDCBase = "/oidc"

// oidcServer implements op.Server.
type oidcServer struct {
	op.UnimplementedServer
	s *Server
}

var oidcEndpoints = op.Endpoints{
	Authorization: op.NewEndpoint("/authorize"),
	Token:         op.NewEndpoint("/oauth/token"),
	Revocation:    op.NewEndpoint("/revoke"),
	EndSession:    op.NewEndpoint("/end_session"),
	JwksURI:       op.NewEndpoint("/keys"),
}

// Scopes a token may carry: openid (an ID token) and offline_access (a
// refresh token) as the SDKs ask, profile for the identity's name.
var oidcScopes = []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess, oidc.ScopeProfile}

type oidcReqKey struct{}

// httpRequestOf is the request an op.Server method serves: op passes only
// its context, and the node needs the request's TLS state, host and id.
// Its body was read by op: the form is in the op.Request.
func httpRequestOf(ctx context.Context) *http.Request {
	r, _ := ctx.Value(oidcReqKey{}).(*http.Request)
	return r
}

// oidcHandler serves OIDCBase: the login steps on a mux of their own, the
// rest through op. Every request but discovery runs behind a read barrier.
func (s *Server) oidcHandler() http.Handler {
	std := op.RegisterServer(&oidcServer{s: s}, oidcEndpoints,
		op.WithServerCORSOptions(nil), op.WithFallbackLogger(s.log))
	login := s.oidcLoginRoutes()
	return http.StripPrefix(OIDCBase, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l, ok := r.Context().Value(routeKey{}).(*routeLabel); ok {
			l.api, l.route = "oidc", oidcRoute(r.URL.Path)
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		r = r.WithContext(context.WithValue(r.Context(), oidcReqKey{}, r))
		var h http.Handler = std
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/login/"):
			h = login
		case p == oidcEndpoints.Token.Relative() || p == oidcEndpoints.Revocation.Relative():
			// RFC 6749 §3.2 and RFC 7009 §2.1: POST, parameters in the
			// body only, so codes and tokens stay out of URLs and logs.
			if r.Method != http.MethodPost {
				w.Header().Set("Allow", http.MethodPost)
				api.WriteJSON(w, http.StatusMethodNotAllowed, oidc.ErrInvalidRequest().WithDescription("use POST with a form body"))
				return
			}
			r.URL.RawQuery = ""
			if p == oidcEndpoints.Token.Relative() && s.cfg.Metrics != nil {
				// Parsed here, the form is the one op reads (it parses a
				// request once), and its grant type labels the count.
				_ = r.ParseForm()
				sw := &statusWriter{ResponseWriter: w}
				w = sw
				defer func() { s.cfg.Metrics.TokenRequest(grantLabel(r.PostForm.Get("grant_type")), statusOutcome(sw.status)) }()
			}
		}
		if r.URL.Path == "/logged-out" && r.Method == http.MethodGet {
			api.WriteJSON(w, http.StatusOK, map[string]any{"loggedOut": true})
			return
		}
		if r.URL.Path == oidc.DiscoveryEndpoint {
			h.ServeHTTP(w, r)
			return
		}
		s.fresh(h.ServeHTTP)(w, r)
	}))
}

// grantLabel bounds the grant_type label of the token metrics.
func grantLabel(g string) string {
	switch oidc.GrantType(g) {
	case oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeTokenExchange, oidc.GrantTypeClientCredentials:
		return g
	}
	return "other"
}

// statusOutcome is the outcome label of an answer's status.
func statusOutcome(status int) string {
	switch {
	case status < 400:
		return "success"
	case status < 500:
		return "refused"
	}
	return "error"
}

// issuer is the OIDC issuer of a request: the URL the client used (OpenID
// Connect Discovery wants the exact prefix it fetched), so discovery works
// through a node's own address and through a load balancer alike.
func issuer(r *http.Request) string {
	return "https://" + r.Host + OIDCBase
}

func (o *oidcServer) Discovery(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	iss := issuer(httpRequestOf(ctx))
	return op.NewResponse(struct {
		oidc.DiscoveryConfiguration
		// RFC 8705 §3.3: access tokens of a client presenting a
		// certificate are bound to it.
		CertBoundTokens bool `json:"tls_client_certificate_bound_access_tokens"`
	}{oidc.DiscoveryConfiguration{
		Issuer:                 iss,
		AuthorizationEndpoint:  iss + oidcEndpoints.Authorization.Relative(),
		TokenEndpoint:          iss + oidcEndpoints.Token.Relative(),
		RevocationEndpoint:     iss + oidcEndpoints.Revocation.Relative(),
		EndSessionEndpoint:     iss + oidcEndpoints.EndSession.Relative(),
		JwksURI:                iss + oidcEndpoints.JwksURI.Relative(),
		ScopesSupported:        oidcScopes,
		ResponseTypesSupported: []string{string(oidc.ResponseTypeCode)},
		GrantTypesSupported: []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken,
			oidc.GrantTypeTokenExchange, oidc.GrantTypeClientCredentials},
		SubjectTypesSupported:                  []string{"public"},
		IDTokenSigningAlgValuesSupported:       []string{"ES256"},
		TokenEndpointAuthMethodsSupported:      []oidc.AuthMethod{oidc.AuthMethodNone, authMethodTLS},
		RevocationEndpointAuthMethodsSupported: []oidc.AuthMethod{oidc.AuthMethodNone, authMethodTLS},
		CodeChallengeMethodsSupported:          []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256},
		ClaimsSupported:                        []string{"sub", "name", "nonce", "auth_time", "amr", "z_asid"},
	}, true}), nil
}

func (o *oidcServer) Keys(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	set, err := o.s.memberJWKS()
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return op.NewResponse(set), nil
}

// authMethodTLS is RFC 8705's PKI mutual-TLS client authentication.
const authMethodTLS oidc.AuthMethod = "tls_client_auth"

// oidcClient is one of the two public clients OpenZiti's SDKs and CLI
// name (native, openziti). A request presenting a client certificate of
// an identity authenticates the client by it (tls_client_auth), which
// allows the client credentials grant.
type oidcClient struct {
	id     string
	method oidc.AuthMethod
	// settings add the callbacks the controller settings allow.
	settings *pb.OidcSettings
}

func (c *oidcClient) GetID() string { return c.id }

// RedirectURIs: loopback callbacks on any port (op matches loopback
// redirects without the port, RFC 8252 §7.3) and the SDK's custom scheme.
// The flow's redirect is read by the client from the Location header, not
// followed.
func (c *oidcClient) RedirectURIs() []string {
	return append(builtinCallbacks(), c.settings.GetRedirectUris()...)
}

// PostLogoutRedirectURIs: the built-in callbacks and those the controller
// settings allow after a logout.
func (c *oidcClient) PostLogoutRedirectURIs() []string {
	return append(builtinCallbacks(), c.settings.GetPostLogoutUris()...)
}

func builtinCallbacks() []string {
	return []string{"http://localhost/auth/callback", "https://localhost/auth/callback",
		"http://127.0.0.1/auth/callback", "https://127.0.0.1/auth/callback",
		"http://[::1]/auth/callback", "https://[::1]/auth/callback", "openziti://auth/callback"}
}
func (c *oidcClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeNative }
func (c *oidcClient) AuthMethod() oidc.AuthMethod         { return c.method }
func (c *oidcClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *oidcClient) LoginURL(id string) string {
	return OIDCBase + "/login/username?authRequestID=" + url.QueryEscape(id)
}
func (c *oidcClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *oidcClient) IDTokenLifetime() time.Duration       { return edge.OidcAccessLifetime }
func (c *oidcClient) DevMode() bool                        { return false }
func (c *oidcClient) IsScopeAllowed(scope string) bool     { return slices.Contains(oidcScopes, scope) }
func (c *oidcClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *oidcClient) ClockSkew() time.Duration             { return 0 }
func (c *oidcClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *oidcClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// GrantTypes: op refuses the client credentials grant to a client that
// did not authenticate (invalid_client).
func (c *oidcClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeTokenExchange, oidc.GrantTypeClientCredentials}
}

var oidcClientIDs = []string{"native", "openziti"}

func (o *oidcServer) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	id := r.Data.ClientID
	if !slices.Contains(oidcClientIDs, id) {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client_id %q: the clients are native and openziti", id)
	}
	if r.Data.ClientSecret != "" || r.Data.ClientAssertion != "" {
		return nil, oidc.ErrInvalidClient().WithDescription("client %s authenticates with no secret, or with a client certificate (tls_client_auth)", id)
	}
	method := oidc.AuthMethodNone
	if len(clientChain(httpRequestOf(ctx))) > 0 {
		method = authMethodTLS
	}
	return &oidcClient{id: id, method: method, settings: o.s.memberSettings()}, nil
}

func (o *oidcServer) VerifyAuthRequest(ctx context.Context, r *op.Request[oidc.AuthRequest]) (*op.ClientRequest[oidc.AuthRequest], error) {
	d := r.Data
	if d.RequestParam != "" {
		return nil, oidc.ErrRequestNotSupported()
	}
	if !slices.Contains(oidcClientIDs, d.ClientID) {
		return nil, oidc.ErrInvalidRequest().WithDescription("unknown client_id %q: the clients are native and openziti", d.ClientID)
	}
	// Public clients must prove the code is theirs (RFC 9700 §2.1.1).
	if d.CodeChallenge == "" || d.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: code_challenge with code_challenge_method S256")
	}
	if len(d.State) > 512 || len(d.Nonce) > 512 || len(d.CodeChallenge) > 128 {
		return nil, oidc.ErrInvalidRequest().WithDescription("state and nonce are at most 512 bytes, code_challenge 128")
	}
	return &op.ClientRequest[oidc.AuthRequest]{Request: r, Client: &oidcClient{id: d.ClientID, method: oidc.AuthMethodNone, settings: o.s.memberSettings()}}, nil
}

// Authorize answers the login step's URL, carrying the request signed.
func (o *oidcServer) Authorize(ctx context.Context, r *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	d := r.Data
	req := &edge.OidcRequest{ClientID: d.ClientID, RedirectURI: d.RedirectURI, State: d.State, Nonce: d.Nonce,
		CodeChallenge: d.CodeChallenge, Scopes: d.Scopes}
	claims := edge.OidcClaims{RegisteredClaims: jwt.RegisteredClaims{Audience: jwt.ClaimStrings{edge.OidcAudience}}, Request: req}
	id, _, err := o.s.tokens.SignOidc(issuer(httpRequestOf(ctx)), edge.OidcAuthRequest, claims,
		time.Now(), edge.OidcLoginLifetime)
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return op.NewRedirect(r.Client.LoginURL(id)), nil
}

// invalidGrant is RFC 6749's answer to a code or refresh token that is
// not (or no longer) good.
func invalidGrant(format string, args ...any) error {
	return oidc.ErrInvalidGrant().WithDescription(format, args...)
}

func (o *oidcServer) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	code, err := o.s.tokens.VerifyOidc(r.Data.Code, edge.OidcCode)
	if err != nil {
		return nil, invalidGrant("the code is not valid: %v", err)
	}
	req := code.Request
	switch {
	case req.ClientID != r.Client.GetID():
		return nil, invalidGrant("the code was issued to another client")
	case req.RedirectURI != r.Data.RedirectURI:
		return nil, invalidGrant("redirect_uri differs from the authorization request's")
	case !edge.PKCEMatches(req.CodeChallenge, r.Data.CodeVerifier):
		return nil, invalidGrant("code_verifier does not match the code challenge")
	}
	return o.s.grantTokens(httpRequestOf(ctx), grantStep{
		sessionID: code.ApiSessionID, identityID: code.Subject, clientID: req.ClientID,
		spent: code.ID, scopes: req.Scopes, nonce: req.Nonce, authTime: code.AuthTime.Time, amr: code.AMR,
	})
}

func (o *oidcServer) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	step, err := o.s.refreshStep(httpRequestOf(ctx), r.Data.RefreshToken, r.Client.GetID())
	if err != nil {
		return nil, err
	}
	return o.s.grantTokens(httpRequestOf(ctx), step)
}

// TokenExchange (RFC 8693) is how OpenZiti's Go SDK refreshes: a refresh
// token exchanged for new access and refresh tokens (a rotation, as the
// refresh grant), then the same refresh token for an ID token (which spends
// nothing: an ID token opens no API), or an access token for a new access
// token of the same grant.
func (o *oidcServer) TokenExchange(ctx context.Context, r *op.ClientRequest[oidc.TokenExchangeRequest]) (*op.Response, error) {
	hr := httpRequestOf(ctx)
	d := r.Data
	if d.ActorToken != "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("actor tokens (delegation) are not supported")
	}
	requested := d.RequestedTokenType
	if requested == "" {
		requested = oidc.AccessTokenType
	}
	if requested != oidc.AccessTokenType && requested != oidc.RefreshTokenType && requested != oidc.IDTokenType {
		return nil, oidc.ErrInvalidRequest().WithDescription("requested_token_type must be an access, refresh or ID token")
	}
	switch d.SubjectTokenType {
	case oidc.RefreshTokenType:
		if requested == oidc.IDTokenType {
			claims, err := o.s.verifyRefresh(hr, d.SubjectToken, r.Client.GetID())
			if err != nil {
				return nil, err
			}
			return o.s.idTokenOnly(hr, claims)
		}
		step, err := o.s.refreshStep(hr, d.SubjectToken, r.Client.GetID())
		if err != nil {
			return nil, err
		}
		step.exchange = true
		return o.s.grantTokens(hr, step)
	case oidc.AccessTokenType:
		if requested == oidc.RefreshTokenType {
			return nil, invalidGrant("an access token cannot be exchanged for a refresh token")
		}
		claims, err := o.s.tokens.VerifyOidc(d.SubjectToken, edge.OidcAccess)
		if err != nil || claims.ClientID != r.Client.GetID() || !claims.Bound(leafOf(hr)) {
			return nil, invalidGrant("the subject token is not a valid access token of this client")
		}
		if err := o.s.checkNotRevoked(claims.ID); err != nil {
			return nil, err
		}
		if requested == oidc.IDTokenType {
			return o.s.idTokenOnly(hr, claims)
		}
		step := grantStep{sessionID: claims.ApiSessionID, identityID: claims.Subject, clientID: claims.ClientID,
			scopes: withoutScope(claims.Scopes, oidc.ScopeOfflineAccess), noRefresh: true, exchange: true,
			notAfter: claims.ExpiresAt.Time}
		return o.s.grantTokens(hr, step)
	}
	return nil, oidc.ErrInvalidRequest().WithDescription("subject_token_type must be a refresh or access token")
}

// ClientCredentialsExchange (RFC 6749 §4.4 with RFC 8705 client
// authentication): the client's certificate is an identity's, and the
// grant is a certificate login of that identity.
func (o *oidcServer) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	hr := httpRequestOf(ctx)
	scopes := r.Data.Scope
	for _, sc := range scopes {
		if !slices.Contains(oidcScopes, sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("unknown scope %q", sc)
		}
	}
	var resp *op.Response
	var grantErr error
	clientID := r.Client.GetID()
	done := func(w http.ResponseWriter, r *http.Request, req *authenticateRequest, ident *identityRec, authID string) error {
		resp, grantErr = o.s.startGrant(r, req, ident, authID, clientID, scopes, "cert")
		return nil
	}
	if aerr := asAPIError(o.s.certLogin(nil, hr, &authenticateRequest{}, done)); aerr != nil {
		if aerr.Status == http.StatusUnauthorized {
			return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("the client certificate logs in no identity"), http.StatusUnauthorized)
		}
		return nil, oauthError(aerr)
	}
	return resp, grantErr
}

// Revocation (RFC 7009): a refresh or access token of any node ends its
// grant (the API session) on every node. A token that is not valid, or
// whose grant ended, is answered 200 all the same.
func (o *oidcServer) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	hr := httpRequestOf(ctx)
	var claims *edge.OidcClaims
	for _, typ := range []string{edge.OidcRefresh, edge.OidcAccess} {
		if c, err := o.s.tokens.VerifyOidc(r.Data.Token, typ); err == nil {
			claims = c
			break
		}
	}
	if claims == nil {
		return op.NewResponse(struct{}{}), nil
	}
	if claims.ClientID != r.Client.GetID() {
		return nil, op.NewStatusError(oidc.ErrUnauthorizedClient().WithDescription("the token was issued to another client"), http.StatusBadRequest)
	}
	if !claims.Bound(leafOf(hr)) {
		return nil, op.NewStatusError(oidc.ErrUnauthorizedClient().WithDescription("the token is bound to a client certificate this request does not present"), http.StatusBadRequest)
	}
	if err := o.s.endGrant(hr, claims.ApiSessionID, claims.Subject); err != nil {
		return nil, err
	}
	return op.NewResponse(struct{}{}), nil
}

// EndSession (RP-initiated logout) ends the grant an ID token names and
// sends the client back to its loopback callback, if it gave one.
func (o *oidcServer) EndSession(ctx context.Context, r *op.Request[oidc.EndSessionRequest]) (*op.Redirect, error) {
	hr := httpRequestOf(ctx)
	claims, err := o.s.tokens.VerifyOidc(r.Data.IdTokenHint, edge.OidcID)
	if err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("id_token_hint must be an ID token of this network: %v", err)
	}
	back := r.Data.PostLogoutRedirectURI
	if back != "" && !callbackAllowed(back, (&oidcClient{settings: o.s.memberSettings()}).PostLogoutRedirectURIs()) {
		return nil, oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri must be a loopback or openziti:// callback, or one the controller settings allow")
	}
	if err := o.s.endGrant(hr, claims.ApiSessionID, claims.Subject); err != nil {
		return nil, err
	}
	if back == "" {
		return op.NewRedirect(OIDCBase + "/logged-out"), nil
	}
	if r.Data.State != "" {
		u, _ := url.Parse(back)
		q := u.Query()
		q.Set("state", r.Data.State)
		u.RawQuery = q.Encode()
		back = u.String()
	}
	return op.NewRedirect(back), nil
}

// endGrant deletes the API session of a grant, if it still belongs to
// identityID (a token outlives nothing it names).
func (s *Server) endGrant(r *http.Request, sessionID, identityID string) error {
	rec, err := s.store.Get(fsm.KindApiSession, sessionID)
	if errors.Is(err, fsm.ErrNotFound) {
		return nil
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	if rec.Body.(*pb.ApiSession).GetIdentityId() != identityID {
		return nil
	}
	del := fsm.DeleteOp(fsm.KindApiSession, sessionID)
	del.GetDelete().SkipMissing = true
	if aerr := s.apply(r, del); aerr != nil {
		return oauthError(aerr)
	}
	return nil
}

// callbackAllowed reports whether uri is one of the allowed callbacks, or
// a loopback one of them on any port (RFC 8252 §7.3), as /authorize allows
// them.
func callbackAllowed(uri string, allowedURIs []string) bool {
	u, loopback := op.HTTPLoopbackOrLocalhost(uri)
	for _, allowed := range allowedURIs {
		if uri == allowed {
			return true
		}
		if a, ok := op.HTTPLoopbackOrLocalhost(allowed); ok && loopback && u.Scheme == a.Scheme &&
			u.Hostname() == a.Hostname() && u.Path == a.Path && u.RawQuery == "" && u.User == nil {
			return true
		}
	}
	return false
}

// leafOf is the request's client certificate, or nil.
func leafOf(r *http.Request) *x509.Certificate {
	if chain := clientChain(r); len(chain) > 0 {
		return chain[0]
	}
	return nil
}

func withoutScope(scopes []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s == drop })
}
