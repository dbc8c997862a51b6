package rest

import (
	"net/http"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Health checks, outside the three API definitions, at the paths OpenZiti
// serves them, and without a session:
//
//   - GET /health-checks: liveness, OpenZiti's shape: the state database
//     answers a read (check bolt.read). 200, or 503.
//   - GET /health-checks/controller/raft: the same, with raft.isLeader:
//     200 on the leader, 429 elsewhere (OpenZiti's, after Vault's).
//   - GET /health-checks/ready: readiness, what a load balancer asks:
//     bolt.read and raft.ready (a member that knows a leader it heard from
//     lately and has applied within cluster.MaxReadyLag entries of it).
//     200, or 503 naming the reason; deploy/'s HAProxy configs check it.
//   - GET /health-checks/live: liveness alone (bolt.read), for an
//     orchestrator that restarts what is not alive.
const HealthBase = "/health-checks"

// healthCheck is one check of a health answer.
type healthCheck struct {
	ID                string `json:"id"`
	Healthy           bool   `json:"healthy"`
	LastCheckDuration string `json:"lastCheckDuration"`
	LastCheckTime     string `json:"lastCheckTime"`
	Details           any    `json:"details,omitempty"`
}

// timedCheck runs one check now.
func timedCheck(id string, run func() (bool, any)) healthCheck {
	start := time.Now()
	ok, details := run()
	return healthCheck{ID: id, Healthy: ok, LastCheckDuration: time.Since(start).String(),
		LastCheckTime: start.UTC().Format(time.RFC3339), Details: details}
}

func (s *Server) boltRead() healthCheck {
	return timedCheck("bolt.read", func() (bool, any) {
		err := s.store.View(func(rd *fsm.Reader) error { _, err := rd.Count(fsm.KindController); return err })
		if err != nil {
			return false, map[string]any{"error": err.Error()}
		}
		return true, nil
	})
}

func (s *Server) raftReady() healthCheck {
	return timedCheck("raft.ready", func() (bool, any) {
		r := s.node.Readiness()
		d := map[string]any{"member": r.Member, "leader": r.Leader, "appliedIndex": r.Applied,
			"leaderAppliedIndex": r.LeaderApplied, "leaderContactMs": r.LeaderContact.Milliseconds()}
		if r.Reason != "" {
			d["reason"] = r.Reason
		}
		return r.Ready, d
	})
}

// writeHealth answers checks: status ok when all are healthy, else bad.
func writeHealth(w http.ResponseWriter, bad int, extra map[string]any, checks ...healthCheck) {
	healthy := true
	for _, c := range checks {
		healthy = healthy && c.Healthy
	}
	body := map[string]any{"data": map[string]any{"healthy": healthy, "checks": checks}, "meta": map[string]any{}}
	for k, v := range extra {
		body[k] = v
	}
	status := http.StatusOK
	if !healthy {
		status = bad
	}
	w.Header().Set("Cache-Control", "no-store")
	api.WriteJSON(w, status, body)
}

// healthHandler serves HealthBase.
func (s *Server) healthHandler() http.Handler {
	m := http.NewServeMux()
	live := func(w http.ResponseWriter, r *http.Request) {
		writeHealth(w, http.StatusServiceUnavailable, nil, s.boltRead())
	}
	m.HandleFunc("GET "+HealthBase, labelRoute("health", HealthBase, live))
	m.HandleFunc("GET "+HealthBase+"/live", labelRoute("health", HealthBase+"/live", live))
	m.HandleFunc("GET "+HealthBase+"/ready", labelRoute("health", HealthBase+"/ready", func(w http.ResponseWriter, r *http.Request) {
		writeHealth(w, http.StatusServiceUnavailable, nil, s.boltRead(), s.raftReady())
	}))
	m.HandleFunc("GET "+HealthBase+"/controller/raft", labelRoute("health", HealthBase+"/controller/raft", func(w http.ResponseWriter, r *http.Request) {
		leader := s.node.IsLeader()
		check := s.boltRead()
		status := http.StatusOK
		if !leader {
			status = http.StatusTooManyRequests
		}
		body := map[string]any{"data": map[string]any{"healthy": check.Healthy, "checks": []healthCheck{check}}, "meta": map[string]any{},
			"raft": map[string]any{"isLeader": leader, "isRaftEnabled": true}}
		w.Header().Set("Cache-Control", "no-store")
		api.WriteJSON(w, status, body)
	}))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { api.WriteError(w, r, api.NotFound()) })
	return m
}
