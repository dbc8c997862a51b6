package rest

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/cluster"
	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Agent paths, served only on the node's unix socket (mode 0600 in its
// data directory): whoever can open it already controls the node's files.
const (
	AgentInitPath   = "/agent/v1/cluster/init"
	AgentStatusPath = "/agent/v1/status"
)

// Username and password limits from the spec's definitions.
const (
	minUsername, maxUsername = 4, 100
	minPassword, maxPassword = 5, 100
)

// InitRequest is the body of an agent init call.
type InitRequest struct {
	AdminUsername string `json:"adminUsername"`
	AdminPassword string `json:"adminPassword"`
	AdminName     string `json:"adminName"`
}

// AgentStatus is the answer of the agent status call.
type AgentStatus struct {
	ID           string `json:"id"`
	LeaderID     string `json:"leaderId"`
	IsLeader     bool   `json:"isLeader"`
	AppliedIndex uint64 `json:"appliedIndex"`
	Initialized  bool   `json:"initialized"`
}

// AgentHandler serves operator calls that must work before any admin
// exists: bootstrapping the cluster and creating the default admin.
func (s *Server) AgentHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+AgentInitPath, api.Handle(s.agentInit))
	mux.Handle("GET "+AgentStatusPath, api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		lid, _ := s.node.Leader()
		api.WriteData(w, http.StatusOK, AgentStatus{
			ID: s.node.ID(), LeaderID: lid, IsLeader: s.node.IsLeader(),
			AppliedIndex: s.store.AppliedIndex(), Initialized: s.hasDefaultAdmin(),
		}, api.Meta{})
		return nil
	}))
	return api.WithRequestID(mux)
}

func (s *Server) agentInit(w http.ResponseWriter, r *http.Request) error {
	var req InitRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	if req.AdminName == "" {
		req.AdminName = "admin"
	}
	if n := len(req.AdminUsername); n < minUsername || n > maxUsername {
		return api.Invalid("adminUsername", "must be 4 to 100 characters", nil)
	}
	if n := len(req.AdminPassword); n < minPassword || n > maxPassword {
		return api.Invalid("adminPassword", "must be 5 to 100 characters", nil)
	}
	// Bootstrap and admin creation are two steps; an init that failed after
	// the first may be repeated and completes the second.
	if err := s.node.Bootstrap(); err != nil && !errors.Is(err, cluster.ErrAlreadyInitialized) {
		return api.Unhandled(err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := s.node.WaitForLeader(ctx); err != nil {
		return api.FromCluster(err)
	}
	if s.hasDefaultAdmin() {
		return &api.Error{Status: http.StatusConflict, Code: api.CodeConflict, Message: "the cluster is already initialised and has its default admin"}
	}
	if err := s.CreateDefaultAdmin(r, req); err != nil {
		return err
	}
	api.WriteEmpty(w)
	return nil
}

// CreateDefaultAdmin creates the admin identity with a password
// authenticator in one command.
func (s *Server) CreateDefaultAdmin(r *http.Request, req InitRequest) *api.Error {
	hash, err := HashPassword(req.AdminPassword)
	if err != nil {
		return api.Unhandled(err)
	}
	identityID, authID := uuid.NewString(), uuid.NewString()
	createIdentity, err := fsm.CreateOp(fsm.KindIdentity, identityID, &pb.Identity{
		Name: req.AdminName, TypeId: "User", IsAdmin: true, IsDefaultAdmin: true,
	}, nil)
	if err != nil {
		return api.Unhandled(err)
	}
	createAuth, err := fsm.CreateOp(fsm.KindAuthenticator, authID, &pb.Authenticator{
		IdentityId: identityID, Method: "updb", Username: req.AdminUsername, PasswordHash: hash,
	}, nil)
	if err != nil {
		return api.Unhandled(err)
	}
	return s.apply(r, createIdentity, createAuth)
}

func (s *Server) hasDefaultAdmin() bool {
	found := false
	_ = s.store.View(func(rd *fsm.Reader) error {
		return rd.ForEach(fsm.KindIdentity, func(rec *fsm.Record) error {
			if id, _ := fsm.As[*pb.Identity](rec); id.GetIsDefaultAdmin() {
				found = true
			}
			return nil
		})
	})
	return found
}
