package rest

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/garrison-ctrl/garrison/cluster"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Agent paths, served only on the node's unix socket (mode 0600 in its
// data directory): whoever can open it already controls the node's files.
const (
	AgentInitPath     = "/agent/v1/cluster/init"
	AgentStatusPath   = "/agent/v1/status"
	AgentLogLevelPath = "/agent/v1/log-level"
)

// LogLevel is the body of the agent's log-level calls: debug, info, warn
// or error.
type LogLevel struct {
	Level string `json:"level"`
}

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
	mux.Handle("GET "+AgentLogLevelPath, api.Handle(s.agentLogLevel))
	mux.Handle("PUT "+AgentLogLevelPath, api.Handle(s.agentLogLevel))
	return api.WithRequestID(mux)
}

// agentLogLevel reads or, with PUT, sets the node's log level, at once and
// until the node restarts (node.yml's logLevel is the level it starts at).
func (s *Server) agentLogLevel(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.LogLevel == nil {
		return &api.Error{Status: http.StatusConflict, Code: api.CodeConflict, Message: "This node's log level is fixed"}
	}
	if r.Method == http.MethodPut {
		var req LogLevel
		if err := api.Decode(r, &req); err != nil {
			return err
		}
		var l slog.Level
		if err := l.UnmarshalText([]byte(req.Level)); err != nil {
			return api.Invalid("level", "must be debug, info, warn or error", req.Level)
		}
		old := s.cfg.LogLevel.Level()
		s.cfg.LogLevel.Set(l)
		s.log.Warn("log level changed through the agent socket", "from", old.String(), "to", l.String())
	}
	api.WriteData(w, http.StatusOK, LogLevel{Level: strings.ToLower(s.cfg.LogLevel.Level().String())}, api.Meta{})
	return nil
}

func (s *Server) agentInit(w http.ResponseWriter, r *http.Request) error {
	var req InitRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	if req.AdminName == "" {
		req.AdminName = "admin"
	}
	if n := len(req.AdminUsername); n < edge.MinUsername || n > edge.MaxUsername {
		return api.Invalid("adminUsername", "must be 4 to 100 characters", nil)
	}
	if n := len(req.AdminPassword); n < edge.MinPassword || n > edge.MaxPassword {
		return api.Invalid("adminPassword", "must be 5 to 100 characters", nil)
	}
	// Bootstrap and admin creation are two steps; an init that failed after
	// the first may be repeated and completes the second.
	err := s.node.Bootstrap()
	if err != nil && !errors.Is(err, cluster.ErrAlreadyInitialized) {
		return api.Unhandled(err)
	}
	bootstrapped := err == nil
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := s.node.WaitForLeader(ctx); err != nil {
		return api.FromCluster(err)
	}
	if s.hasDefaultAdmin() {
		// A state restored from a backup brings its admin: the new
		// cluster is initialised with it.
		if bootstrapped {
			api.WriteData(w, http.StatusOK, InitResult{AdminCreated: false}, api.Meta{})
			return nil
		}
		return &api.Error{Status: http.StatusConflict, Code: api.CodeConflict, Message: "the cluster is already initialised and has its default admin"}
	}
	if err := s.CreateDefaultAdmin(r, req); err != nil {
		return err
	}
	api.WriteData(w, http.StatusOK, InitResult{AdminCreated: true}, api.Meta{})
	return nil
}

// InitResult answers an agent init: whether the default admin was
// created (false when the state restored from a backup has one).
type InitResult struct {
	AdminCreated bool `json:"adminCreated"`
}

// CreateDefaultAdmin creates the admin identity with a password
// authenticator in one command.
func (s *Server) CreateDefaultAdmin(r *http.Request, req InitRequest) *api.Error {
	hash, err := s.hasher.Hash(req.AdminPassword)
	if err != nil {
		return api.Unhandled(err)
	}
	ops, err := edge.DefaultAdminOps(req.AdminName, req.AdminUsername, hash)
	if err != nil {
		return api.Unhandled(err)
	}
	return s.apply(r, ops...)
}

func (s *Server) hasDefaultAdmin() bool { return edge.HasDefaultAdmin(s.store) }
