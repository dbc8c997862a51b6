package rest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// BackupPath streams a backup of the replicated state to an admin: GET,
// outside the three API definitions (which have no download of the
// state), behind a read barrier so it holds every acknowledged write.
// garrison backup uses it; garrison restore reads what it wrote.
const BackupPath = "/garrison/v1/backup"

// ClusterID names the cluster a backup belongs to: the SHA-256 of its root
// CA certificate(s), which every node's node.yml names (pki.ca).
func ClusterID(rootsDER [][]byte) string {
	h := sha256.New()
	for _, der := range rootsDER {
		sum := sha256.Sum256(der)
		h.Write(sum[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Server) clusterID() string {
	var ders [][]byte
	for _, c := range s.cfg.CACerts {
		ders = append(ders, c.Raw)
	}
	return ClusterID(ders)
}

func (s *Server) nodeName() string {
	if s.node == nil {
		return ""
	}
	return s.node.ID()
}

// backup answers BackupPath.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="garrison.backup"`)
	h, err := s.store.WriteBackup(w, s.clusterID(), s.nodeName())
	if err != nil {
		// Once bytes are out the status is sent; the client's restore
		// refuses the truncated file by its checksum.
		s.log.Error("backup failed", "err", err, "requestId", api.RequestID(r))
		return
	}
	s.log.Info("backup streamed", "appliedIndex", h.AppliedIndex, "bytes", h.Bytes, "requestId", api.RequestID(r))
}

// snapshots allows one snapshot file at a time per node.
var errSnapshotBusy = &api.Error{Status: http.StatusTooManyRequests, Code: api.CodeRateLimited,
	Message: "A database snapshot is being written on this node; retry when it is done"}

// writeSnapshot writes a backup file named name (a plain file name, or ""
// for a dated one) into the node's backup directory and returns its path.
func (s *Server) writeSnapshot(name string) (string, *api.Error) {
	if s.cfg.BackupDir == "" {
		return "", &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeTimeout, Message: "This node has no backup directory"}
	}
	if name == "" {
		name = fmt.Sprintf("garrison-%s-%s.backup", s.nodeName(), time.Now().UTC().Format("20060102-150405.000"))
	}
	if name != filepath.Base(name) || strings.HasPrefix(name, ".") || strings.ContainsAny(name, `/\`) || len(name) > 200 {
		return "", api.Invalid("path", "must be a plain file name; snapshots are written to the node's backup directory", name)
	}
	if !s.snapshotting.TryLock() {
		return "", errSnapshotBusy
	}
	defer s.snapshotting.Unlock()
	if err := os.MkdirAll(s.cfg.BackupDir, 0o700); err != nil {
		return "", api.Unhandled(err)
	}
	path := filepath.Join(s.cfg.BackupDir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if os.IsExist(err) {
		return "", api.Invalid("path", "a file of that name exists in the backup directory", name)
	}
	if err != nil {
		return "", api.Unhandled(err)
	}
	_, err = s.store.WriteBackup(f, s.clusterID(), s.nodeName())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", api.Unhandled(err)
	}
	return path, nil
}

// createSnapshot answers POST /database/snapshot (management) and POST
// /database (fabric): a snapshot file in the node's backup directory.
func (s *Server) createSnapshot(w http.ResponseWriter, r *http.Request) error {
	path, aerr := s.writeSnapshot("")
	if aerr != nil {
		return aerr
	}
	s.log.Info("database snapshot written", "path", path)
	api.WriteEmpty(w)
	return nil
}

// createSnapshotWithPath answers the fabric's POST /database/snapshot
// {path}: the snapshot under that file name, and where it is.
func (s *Server) createSnapshotWithPath(w http.ResponseWriter, r *http.Request) error {
	in, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	name, _, aerr := in.String("path")
	if aerr != nil {
		return aerr
	}
	path, aerr := s.writeSnapshot(name)
	if aerr != nil {
		return aerr
	}
	api.WriteData(w, http.StatusOK, map[string]any{"path": path}, api.Meta{})
	return nil
}

// integrityCheck is the state of this node's data integrity checks.
type integrityCheck struct {
	mu         sync.Mutex
	running    bool
	fixing     bool
	start, end time.Time
	report     fsm.IntegrityReport
	err        error
}

// run checks the state (fsm.CheckIntegrity) unless a check runs; it
// reports whether it started one.
func (s *Server) runIntegrityCheck(fix bool) bool {
	ic := &s.integrity
	ic.mu.Lock()
	if ic.running {
		ic.mu.Unlock()
		return false
	}
	ic.running, ic.fixing, ic.start, ic.end = true, fix, time.Now(), time.Time{}
	ic.mu.Unlock()
	report, err := s.store.CheckIntegrity()
	ic.mu.Lock()
	ic.running, ic.end, ic.report, ic.err = false, time.Now(), report, err
	ic.mu.Unlock()
	return true
}

// startIntegrityCheck answers POST /database/check-data-integrity and
// fix-data-integrity: 202, and the check runs on this node; 429 while one
// runs.
func (s *Server) startIntegrityCheck(fix bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		ic := &s.integrity
		ic.mu.Lock()
		busy := ic.running
		ic.mu.Unlock()
		if busy {
			return &api.Error{Status: http.StatusTooManyRequests, Code: api.CodeRateLimited, Message: "A data integrity check is running on this node"}
		}
		go s.runIntegrityCheck(fix)
		api.WriteData(w, http.StatusAccepted, map[string]any{}, api.Meta{})
		return nil
	}
}

// integrityResults answers GET /database/data-integrity-results with this
// node's latest check; a node that has run none (a load balancer may send
// the results request elsewhere than the start) runs one first.
func (s *Server) integrityResults(w http.ResponseWriter, r *http.Request) error {
	ic := &s.integrity
	ic.mu.Lock()
	never := ic.start.IsZero()
	ic.mu.Unlock()
	if never {
		s.runIntegrityCheck(false)
	}
	ic.mu.Lock()
	defer ic.mu.Unlock()
	results := []any{}
	for _, issue := range ic.report.Issues {
		results = append(results, map[string]any{"description": issue, "fixed": false})
	}
	errText := ""
	switch {
	case ic.err != nil:
		errText = ic.err.Error()
	case ic.fixing && len(ic.report.Issues) > 0:
		errText = "nothing was fixed: the state is replicated, and a repair on one node would make it differ from the others; " +
			"repair a damaged node by removing it from the cluster and adding it back (it installs the leader's snapshot)"
	}
	// endTime is required: a check still running says the zero time.
	end := api.Time(ic.end)
	api.WriteData(w, http.StatusOK, map[string]any{
		"inProgress": ic.running, "fixingErrors": ic.fixing, "tooManyErrors": ic.report.TooMany,
		"startTime": api.Time(ic.start), "endTime": end, "error": errText, "results": results,
	}, api.Meta{})
	return nil
}
