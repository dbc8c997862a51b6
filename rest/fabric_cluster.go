package rest

import (
	"errors"
	"net/http"

	"github.com/garrison-ctrl/garrison/cluster"
	"github.com/garrison-ctrl/garrison/rest/api"
)

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) error {
	members, err := s.node.Members()
	if err != nil {
		return api.Unhandled(err)
	}
	out := make([]map[string]any, 0, len(members))
	for _, m := range members {
		version := m.Version
		if version == "" {
			version = "<not connected>"
		}
		out = append(out, map[string]any{
			"id": m.ID, "address": "tls:" + m.Address, "voter": m.Voter, "leader": m.Leader,
			"version": version, "connected": m.Connected, "readOnly": false,
			"preferredLeader": false,
			// Not in the spec's schema, but useful to operators and harmless
			// to clients that ignore unknown fields.
			"lastContact":  api.Time(m.LastContact),
			"appliedIndex": m.AppliedIndex,
		})
	}
	api.WriteData(w, http.StatusOK, out, api.Meta{})
	return nil
}

type addMemberRequest struct {
	Address *string `json:"address"`
	IsVoter *bool   `json:"isVoter"`
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request) error {
	var req addMemberRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	if req.Address == nil || *req.Address == "" {
		return api.Invalid("address", "address is required", nil)
	}
	if req.IsVoter == nil {
		return api.Invalid("isVoter", "isVoter is required", nil)
	}
	if err := s.node.AddMember(r.Context(), *req.Address, *req.IsVoter); err != nil {
		if errors.Is(err, cluster.ErrInvalid) {
			return api.Invalid("address", err.Error(), *req.Address)
		}
		return api.FromCluster(err)
	}
	api.WriteEmpty(w)
	return nil
}

type memberIDRequest struct {
	ID          string `json:"id"`
	NewLeaderID string `json:"newLeaderId"`
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) error {
	var req memberIDRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	if req.ID == "" {
		return api.Invalid("id", "id is required", nil)
	}
	if err := s.node.RemoveMember(r.Context(), req.ID); err != nil {
		return api.FromCluster(err)
	}
	api.WriteEmpty(w)
	return nil
}

func (s *Server) transferLeadership(w http.ResponseWriter, r *http.Request) error {
	var req memberIDRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	if err := s.node.TransferLeadership(r.Context(), req.NewLeaderID); err != nil {
		if errors.Is(err, cluster.ErrInvalid) {
			// The spec documents no 400 here: a member that cannot lead
			// is "no such voting member".
			return &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: "There is no voting member with that id", CauseMessage: err.Error()}
		}
		return api.FromCluster(err)
	}
	api.WriteEmpty(w)
	return nil
}
