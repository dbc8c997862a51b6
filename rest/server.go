// Package rest serves the OpenZiti Edge Client API (/edge/client/v1), Edge
// Management API (/edge/management/v1) and the Fabric cluster operations
// (/fabric/v1/cluster) of one Garrison node. Reads come from the node's own
// replicated store; writes become protobuf commands applied through the
// cluster. Each file holds the handlers of one group of paths.
package rest

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"google.golang.org/protobuf/proto"

	"github.com/garrison-ctrl/garrison/cluster"
	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/internal/metrics"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	"github.com/garrison-ctrl/garrison/rest/resource"
)

// Base paths of the served APIs.
const (
	ClientBase     = "/edge/client/v1"
	ManagementBase = "/edge/management/v1"
	FabricBase     = "/fabric/v1"
)

// Config configures the API server of one node.
type Config struct {
	Node  *cluster.Node
	Store *fsm.Store
	// AdvertiseURL is this node's API base, e.g. https://ctrl1.example:1280.
	AdvertiseURL string
	Log          *slog.Logger
	// SessionTimeout ends API sessions idle for longer; default 30 minutes.
	SessionTimeout time.Duration
	// WriteTimeout bounds how long a request waits for its replicated write.
	WriteTimeout time.Duration
	// Signer signs this node's access tokens and JWTs; nil disables issuing
	// them (tokens from other members are still accepted).
	Signer *edge.TokenSigner
	// EnrollSigner signs enrollment JWTs with the key of the certificate
	// the API listener presents, under the cluster's public URL as issuer:
	// OpenZiti's SDKs verify an enrollment JWT with the key of the
	// certificate the server at its issuer presents. Default Signer.
	EnrollSigner *edge.TokenSigner
	// Issuer is this node's intermediate CA: it signs the client
	// certificates of enrollments, API session certificates and extensions.
	Issuer *pki.CA
	// TrustDomain is the cluster's SPIFFE trust domain (pki.DefaultTrustDomain when empty).
	TrustDomain string
	// CACerts are the cluster's root CA(s): the trust anchor of the trust
	// bundle (/.well-known/est/cacerts), of challenge answers, and of client
	// certificates the cluster issued (through a member's intermediate).
	CACerts []*x509.Certificate
	// PasswordHashing are the argon2id costs of new password hashes (zero:
	// edge.DefaultArgon2); the node's configuration validates them.
	PasswordHashing edge.Argon2Params
	// LogLevel, when set, is the level of the node's log, which the agent
	// socket's log-level call changes at run time.
	LogLevel *slog.LevelVar
	// Metrics receives the HTTP, login and token figures and is served at
	// /metrics; nil switches both off.
	Metrics *metrics.Metrics
	// ScrapeCerts, when set, are the only client certificates /metrics
	// answers.
	ScrapeCerts []*x509.Certificate
	// BackupDir is where database snapshots are written (POST
	// /database/snapshot); "" refuses them.
	BackupDir string
	// MaxPublicRequests bounds the requests in flight on routes that need
	// no session (logins, enrollment, /oidc); more are answered 429. Zero:
	// 256.
	MaxPublicRequests int
}

// Server holds the API handlers of one node.
type Server struct {
	cfg   Config
	node  *cluster.Node
	store *fsm.Store
	log   *slog.Logger
	// hashing bounds concurrent argon2id verifications (19 MiB each), so a
	// burst of logins cannot exhaust memory.
	hashing chan struct{}
	// passwordChecks serialises the password logins of each username.
	passwordChecks keyLocks
	// public holds a slot per request in flight that needs no session, so
	// clients that send their bodies slowly cannot hold the node's
	// goroutines and memory without bound (cmd/garrison also bounds the
	// time a request may take to arrive).
	public chan struct{}
	// snapshotting allows one database snapshot file at a time.
	snapshotting sync.Mutex
	// integrity is this node's latest data integrity check.
	integrity integrityCheck

	// The domain services behind the handlers.
	hasher   *edge.Hasher
	jwks     *edge.JWKSCache
	trust    *edge.Trust
	tokens   *edge.Tokens
	minter   *edge.Minter
	sessions *edge.Sessions

	// rs serves the declared resources res.
	rs  resource.Store
	res resources
	// serviceRenders caches the services' own fields for the client's
	// service list, its hot path (services.go).
	serviceRenders *resource.RenderCache
}

// resources are the entity types declared with the resource framework,
// one file each (identities.go declares identities, and so on).
type resources struct {
	identities, authenticators, ownAuthenticators, enrollments, apiSessions, sessionCerts,
	cas, edgeRouters, controllers, configTypes, configs, services, servicePolicies,
	edgeRouterPolicies, serviceEdgeRouterPolicies, netSessions, ownSessions, postureChecks, terminators, clientTerminators, authPolicies,
	extJwtSigners, clientExtJwtSigners *resource.Resource
	// The fabric API's views, and the transit routers.
	transitRouters, mgmtRouters, fabricRouters, fabricServices, fabricTerminators *resource.Resource
	revocations, controllerSettings                                               *resource.Resource
}

func (s *Server) declare() resources {
	return resources{
		identities:                s.identities(),
		authenticators:            s.authenticators(),
		ownAuthenticators:         s.ownAuthenticators(),
		enrollments:               s.enrollments(),
		apiSessions:               s.apiSessions(),
		sessionCerts:              s.sessionCerts(),
		cas:                       s.cas(),
		edgeRouters:               s.edgeRouters(),
		controllers:               s.controllers(),
		configTypes:               s.configTypes(),
		configs:                   s.configs(),
		services:                  s.services(),
		servicePolicies:           s.servicePolicies(),
		edgeRouterPolicies:        s.edgeRouterPolicies(),
		serviceEdgeRouterPolicies: s.serviceEdgeRouterPolicies(),
		netSessions:               s.netSessions(),
		ownSessions:               s.ownSessions(),
		postureChecks:             s.postureChecks(),
		terminators:               s.terminators(),
		authPolicies:              s.authPolicies(),
		extJwtSigners:             s.extJwtSigners(),
		clientExtJwtSigners:       s.clientExtJwtSigners(),
		clientTerminators:         s.clientTerminators(),
		transitRouters:            s.transitRouters("transit-routers"),
		mgmtRouters:               s.transitRouters("routers"),
		fabricRouters:             s.fabricRouters(),
		fabricServices:            s.fabricServices(),
		fabricTerminators:         s.fabricTerminators(),
		revocations:               s.revocations(),
		controllerSettings:        s.controllerSettings(),
	}
}

func (r *resources) all() []*resource.Resource {
	return []*resource.Resource{r.identities, r.authenticators, r.ownAuthenticators, r.enrollments, r.apiSessions,
		r.sessionCerts, r.cas, r.edgeRouters, r.controllers, r.configTypes, r.configs, r.services, r.servicePolicies,
		r.edgeRouterPolicies, r.serviceEdgeRouterPolicies, r.netSessions, r.ownSessions, r.postureChecks, r.terminators,
		r.clientTerminators, r.authPolicies, r.extJwtSigners, r.clientExtJwtSigners,
		r.transitRouters, r.mgmtRouters, r.fabricRouters, r.fabricServices, r.fabricTerminators, r.revocations,
		r.controllerSettings}
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 30 * time.Minute
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 15 * time.Second
	}
	if cfg.EnrollSigner == nil {
		cfg.EnrollSigner = cfg.Signer
	}
	if cfg.MaxPublicRequests <= 0 {
		cfg.MaxPublicRequests = 256
	}
	nodeID := ""
	if cfg.Node != nil {
		nodeID = cfg.Node.ID()
	}
	hasher, err := edge.NewHasher(cfg.PasswordHashing)
	if err != nil {
		cfg.Log.Error("password hashing parameters refused; using the defaults", "err", err)
		hasher, _ = edge.NewHasher(edge.Argon2Params{})
	}
	trust := &edge.Trust{Roots: cfg.CACerts, Issuer: cfg.Issuer, ClientURL: cfg.AdvertiseURL + ClientBase, ClientAPI: APIEdgeClient}
	s := &Server{cfg: cfg, node: cfg.Node, store: cfg.Store, log: cfg.Log, hasher: hasher, jwks: edge.NewJWKSCache(keySetFetcher()),
		hashing: make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
		public:  make(chan struct{}, cfg.MaxPublicRequests),
		// Services of 10,000 at a few KiB each.
		serviceRenders: resource.NewRenderCache(50_000),
		trust:          trust,
		tokens:         &edge.Tokens{Signer: cfg.Signer, Store: cfg.Store},
		minter:         &edge.Minter{Signer: cfg.EnrollSigner, NetworkSigner: cfg.Signer, Trust: trust, NodeID: nodeID},
		sessions:       &edge.Sessions{Node: cfg.Node, Store: cfg.Store, Timeout: cfg.SessionTimeout, WriteTimeout: cfg.WriteTimeout, Log: cfg.Log},
	}
	s.rs = resource.Store{State: cfg.Store, Apply: s.applyResult, NewID: s.newID, Remembered: s.remembered}
	cfg.Metrics.Gauge("garrison_api_sessions", "API sessions in the replicated state (OAuth grants included).", func() float64 {
		var n int
		_ = cfg.Store.View(func(rd *fsm.Reader) error {
			var err error
			n, err = rd.Count(fsm.KindApiSession)
			return err
		})
		return float64(n)
	})
	s.res = s.declare()
	return s
}

// load reads the entity of kind that the request's {id} names, with its
// body as T.
func load[T proto.Message](s *Server, r *http.Request, kind string) (*fsm.Record, T, *api.Error) {
	var zero T
	rec, err := s.store.Get(kind, mux.Vars(r)["id"])
	if err != nil {
		return nil, zero, api.NotFoundOr(err)
	}
	body, ok := rec.Body.(T)
	if !ok {
		return nil, zero, api.Unhandled(fmt.Errorf("%s %s has a %T body", kind, rec.ID, rec.Body))
	}
	return rec, body, nil
}

// acquireHashing takes one of the argon2id slots (19 MiB each), so a burst
// of password checks cannot exhaust memory; a caller that waits 5 s is
// told to retry.
func (s *Server) acquireHashing(r *http.Request) *api.Error {
	select {
	case s.hashing <- struct{}{}:
		return nil
	case <-time.After(5 * time.Second):
		return &api.Error{Status: http.StatusTooManyRequests, Code: api.CodeRateLimited,
			Message: "Too many password checks are being processed; retry shortly"}
	case <-r.Context().Done():
		return api.Unhandled(r.Context().Err())
	}
}

func (s *Server) releaseHashing() { <-s.hashing }

// dedupScope is what a request's writes are numbered under: the caller's
// identity and the request's idempotency key (the client's
// Idempotency-Key, or one made for this request), "" for a request without
// a session (a login is not repeated by key).
func dedupScope(r *http.Request) string {
	c := callerOf(r)
	if c == nil || c.identity == nil {
		return ""
	}
	key, _ := api.IdempotencyKey(r)
	return c.identity.ID + ":" + key
}

// dedupID is the dedup_id of the request's next command (fsm: applied
// once). Under a scope, a retry of the same request with the same key
// numbers its commands alike and gets the first outcome.
func (s *Server) dedupID(r *http.Request) string {
	n := api.NextCommand(r)
	if scope := dedupScope(r); scope != "" {
		return scopedDedupID(scope, n)
	}
	if id := api.RequestID(r); id != "" {
		return fmt.Sprintf("rq:%s/%d", id, n)
	}
	return "rq:" + uuid.NewString() // a request made outside the handler chain
}

func scopedDedupID(scope string, n int32) string { return fmt.Sprintf("ik:%s/%d", scope, n) }

// remembered is the result of the request's next command when an earlier
// attempt with the same client-chosen Idempotency-Key applied it already
// (fsm.Reader.Remembered), nil otherwise. Call it once the body is read:
// the request's fingerprint covers the body.
func (s *Server) remembered(r *http.Request) (*pb.Result, error) {
	scope := dedupScope(r)
	if _, given := api.IdempotencyKey(r); !given || scope == "" {
		return nil, nil
	}
	var res *pb.Result
	err := s.cfg.Store.View(func(rd *fsm.Reader) error {
		var err error
		res, err = rd.Remembered(scopedDedupID(scope, api.PendingCommand(r)), api.Fingerprint(r))
		return err
	})
	return res, err
}

// idNamespace is the UUID namespace of ids derived from idempotency keys.
var idNamespace = uuid.MustParse("6f1c5a0e-3d6b-4b8e-9a57-0b7e2f4c9d21")

// newID makes the id of a new entity: random, or, under a dedup scope,
// derived from it, so that a retry with the same Idempotency-Key names the
// entity the first attempt created.
func (s *Server) newID(r *http.Request) string {
	if scope := dedupScope(r); scope != "" {
		return uuid.NewSHA1(idNamespace, fmt.Appendf(nil, "%s/id/%d", scope, api.NextID(r))).String()
	}
	return uuid.NewString()
}

// RunSessionMaintenance replicates session activity in batches and, on the
// leader, deletes sessions idle past their timeout, until ctx ends.
func (s *Server) RunSessionMaintenance(ctx context.Context) { s.sessions.Run(ctx) }

// mint fills an enrollment's token and JWT (edge.Minter.Mint) within the
// caller's read view.
func (s *Server) mint(rd *fsm.Reader, e *pb.Enrollment, subject string, expiresAt time.Time) *api.Error {
	if err := s.minter.Mint(rd, e, subject, expiresAt); err != nil {
		return fromEdge(err)
	}
	return nil
}

// fromEdge maps a domain service's error: a node without a signing key
// cannot serve what needs one (503), anything else is this node's fault.
func fromEdge(err error) *api.Error {
	if errors.Is(err, edge.ErrNoSigner) {
		return &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeUnhandled,
			Message: "this node has no signing key and cannot issue tokens; use another node", CauseMessage: err.Error()}
	}
	return api.As(err)
}

// UnroutedHeader marks an answer for a method and path no route serves
// (a 404 or 405 of the router itself, not of a handler), so a tool can
// tell an operation Garrison lacks from an entity that does not exist
// (garrison spec-coverage).
const UnroutedHeader = "X-Garrison-Unrouted"

// Handler routes all APIs: the route table (routes.go) under each API's
// base path, behind its access check.
func (s *Server) Handler() http.Handler {
	// One router per API, each a root router holding full paths (gorilla/mux
	// subrouters answer 404 instead of 405 for a known path with another
	// method, gorilla/mux#751), chosen by the path's base: a router tries
	// its routes one by one, so each looks only through its own API's.
	newRouter := func() *mux.Router {
		r := mux.NewRouter()
		r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(UnroutedHeader, "true")
			api.WriteError(w, r, api.NotFound())
		})
		r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(UnroutedHeader, "true")
			api.WriteError(w, r, &api.Error{Status: http.StatusMethodNotAllowed, Code: api.CodeMethodNotAllowed,
				Message: "The resource requested does not support this HTTP verb"})
		})
		return r
	}
	bases := map[apiSet]string{clientAPI: ClientBase, mgmtAPI: ManagementBase, fabricAPI: FabricBase}
	apiNames := map[apiSet]string{clientAPI: "client", mgmtAPI: "management", fabricAPI: "fabric"}
	routers := map[string]*mux.Router{ClientBase: newRouter(), ManagementBase: newRouter(), FabricBase: newRouter()}
	for _, rt := range s.routes() {
		h := rt.handle
		switch rt.access {
		case session:
			h = s.authenticated(h)
		case admin:
			h = s.admin(h)
		case partial:
			h = s.partiallyAuthenticated(h, false, false)
		case mfaStep:
			h = s.partiallyAuthenticated(h, true, rt.path == "/authenticate/mfa")
		}
		if rt.access != static {
			h = s.fresh(h)
		}
		if rt.access == public {
			h = s.limitPublic(h)
		}
		for set, base := range bases {
			if rt.apis&set != 0 {
				routers[base].Handle(base+rt.path, labelRoute(apiNames[set], base+rt.path, h)).Methods(rt.method)
			}
		}
	}
	notFound := routers[ClientBase].NotFoundHandler
	oidcHandler := s.limitPublic(s.oidcHandler().ServeHTTP)
	metricsHandler := labelRoute("metrics", "/metrics", s.serveMetrics)
	health := s.healthHandler()
	backup := labelRoute("garrison", BackupPath, s.fresh(s.admin(s.backup)))
	byBase := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == BackupPath && r.Method == http.MethodGet {
			backup(w, r)
			return
		}
		if p := r.URL.Path; p == HealthBase || strings.HasPrefix(p, HealthBase+"/") {
			health.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == "/metrics" && s.cfg.Metrics != nil {
			metricsHandler(w, r)
			return
		}
		if p := r.URL.Path; p == OIDCBase || strings.HasPrefix(p, OIDCBase+"/") {
			oidcHandler.ServeHTTP(w, r)
			return
		}
		// A query that does not decode is refused, not read without its
		// bad parts (?filter=%zz would list everything).
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			api.WriteError(w, r, &api.Error{Status: http.StatusBadRequest, Code: api.CodeCouldNotValidate,
				Message: "The query string could not be decoded", Cause: &api.FieldError{Field: "query", Reason: err.Error()}})
			return
		}
		for base, router := range routers {
			if p := r.URL.Path; p == base || strings.HasPrefix(p, base+"/") {
				router.ServeHTTP(w, r)
				return
			}
		}
		notFound.ServeHTTP(w, r)
	})
	return api.WithRequestID(s.nameNode(s.observe(s.recoverPanics(clientAliases(byBase)))))
}

// limitPublic answers 429 at once when MaxPublicRequests requests that
// need no session are in flight: whoever may reach the node could
// otherwise hold any number of them open by sending bodies slowly.
func (s *Server) limitPublic(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.public <- struct{}{}:
			defer func() { <-s.public }()
			next(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			api.WriteError(w, r, &api.Error{Status: http.StatusTooManyRequests, Code: api.CodeRateLimited,
				Message: "Too many requests without a session are in flight on this node; retry shortly"})
		}
	}
}

// clientAliases serves the Edge Client API under the paths OpenZiti also
// answers it at: the host root for the version and the trust bundle (the
// ziti CLI fetches https://host/.well-known/est/cacerts before anything
// else, the SDK's enrollment GETs https://host/ to see its certificate),
// /edge/v1 (the API's old base), and any path outside /edge, /fabric, /oidc,
// /health-checks, /metrics and /.well-known (identities of old SDKs name the bare host as their API).
func clientAliases(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		strip, alias := "", false
		switch {
		case p == "/edge/v1" || strings.HasPrefix(p, "/edge/v1/"):
			strip, alias = "/edge/v1", true
		case p == "/edge" || strings.HasPrefix(p, "/edge/"), p == "/fabric" || strings.HasPrefix(p, "/fabric/"),
			p == OIDCBase || strings.HasPrefix(p, OIDCBase+"/"):
		case p == "/.well-known/est/cacerts":
			alias = true
		case p == "/metrics", p == HealthBase || strings.HasPrefix(p, HealthBase+"/"), p == BackupPath:
		case strings.HasPrefix(p, "/.well-known/"):
		default:
			alias = true
		}
		if alias {
			r2 := r.Clone(r.Context())
			r2.URL.Path = ClientBase + strings.TrimPrefix(p, strip)
			if r.URL.RawPath != "" {
				r2.URL.RawPath = ClientBase + strings.TrimPrefix(r.URL.RawPath, strip)
			}
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// NodeHeader names the node that answered, so an operator (and a test) can
// see where a load balancer sent a request.
const NodeHeader = "Garrison-Node"

func (s *Server) nameNode(next http.Handler) http.Handler {
	if s.node == nil {
		return next
	}
	name := s.node.ID()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(NodeHeader, name)
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a handler bug into a 500 in the error envelope and a
// log line with the stack, instead of a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("handler panic", "path", r.URL.Path, "requestId", api.RequestID(r), "panic", v, "stack", string(debug.Stack()))
				api.WriteError(w, r, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeUnhandled, Message: "An unhandled error occurred"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// apply replicates ops as one command and maps both transport failures and
// constraint violations to API errors.
func (s *Server) apply(r *http.Request, ops ...*pb.Op) *api.Error {
	res, aerr := s.applyResult(r, ops...)
	if aerr != nil {
		return aerr
	}
	return api.FromResult(res)
}

// applyResult replicates ops as one command and returns the state
// machine's result for the caller to map; transport failures are already
// API errors.
func (s *Server) applyResult(r *http.Request, ops ...*pb.Op) (*pb.Result, *api.Error) {
	return s.applyCommand(r, s.dedupID(r), api.Fingerprint(r), true, ops)
}

// applyAside replicates ops beside the request's own commands: the
// bookkeeping of a refusal (a failed login, a wrong MFA code, a posture
// failure). Its dedup_id is its own, outside the request's
// Idempotency-Key scope: a retry of the request (the same key) must not
// find it as the request's outcome, and must not have its own bookkeeping
// deduplicated onto it, or a key reused with other guesses would count
// none of them. Every attempt counts.
func (s *Server) applyAside(r *http.Request, ops ...*pb.Op) (*pb.Result, *api.Error) {
	return s.applyCommand(r, "aside:"+uuid.NewString(), nil, false, ops)
}

// applyCommand replicates ops under dedupID; keyed says the command is
// the request's own, which a retry with its Idempotency-Key repeats.
func (s *Server) applyCommand(r *http.Request, dedupID string, fingerprint []byte, keyed bool, ops []*pb.Op) (*pb.Result, *api.Error) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WriteTimeout)
	defer cancel()
	res, _, err := s.node.Apply(ctx, &pb.Command{RequestId: api.RequestID(r), DedupId: dedupID, DedupFingerprint: fingerprint, Timestamp: time.Now().UnixNano(), Ops: ops})
	if err != nil {
		aerr := api.FromCluster(err)
		if errors.Is(err, cluster.ErrUnknownOutcome) && keyed && dedupScope(r) != "" {
			// Only a truly unknown outcome reaches here: the node kept
			// sending the write until the deadline.
			key, _ := api.IdempotencyKey(r)
			aerr.Message = "The cluster did not confirm the write before the deadline; it may or may not have taken effect. " +
				"Retry the same request with the header " + api.IdempotencyHeader + ": " + key + " and it takes effect at most once"
		}
		return nil, aerr
	}
	return res, nil
}

// applyEmpty replicates ops and, once applied here, answers the spec's
// empty envelope: the ending of every update and delete handler.
func (s *Server) applyEmpty(w http.ResponseWriter, r *http.Request, ops ...*pb.Op) error {
	if aerr := s.apply(r, ops...); aerr != nil {
		return aerr
	}
	api.WriteEmpty(w)
	return nil
}
