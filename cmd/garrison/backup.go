package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	"github.com/garrison-ctrl/garrison/rest"
)

func newBackupCommand() *cobra.Command {
	var f connFlags
	var out string
	cmd := &cobra.Command{
		Use:   "backup --url URL -u ADMIN -p PASSWORD -o FILE",
		Short: "Copy the cluster's replicated state from a running cluster into a file",
		Long: `Streams a consistent copy of the replicated state (identities, CAs,
enrollments, policies, …, as one read of the answering node saw it after
catching up with the leader) over the authenticated API into FILE, with a
checksum that 'garrison restore' verifies. Admin only. The file holds
password hashes and enrollment tokens: keep it as secret as the nodes' data
directories.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("-o FILE is required")
			}
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.close()
			start := time.Now()
			n, err := c.download(cmd.Context(), rest.BackupPath, out)
			if err != nil {
				return err
			}
			h, err := checkBackupFile(out)
			if err != nil {
				os.Remove(out)
				return fmt.Errorf("the backup received is not whole (%w); nothing was kept", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup of %s at index %d: %s, %d bytes, %s\n", h.Node, h.AppliedIndex, out, n, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (must not exist)")
	return cmd
}

// download GETs path into a new file, keeping nothing on failure.
func (c *apiClient) download(ctx context.Context, path, file string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("zt-session", c.token)
	client := *c.http
	client.Timeout = 0 // a large state takes a while; ctx still bounds it
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return 0, fmt.Errorf("HTTP %d from %s: %s", resp.StatusCode, path, strings.TrimSpace(string(data)))
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return n, fmt.Errorf("download %s: %w", path, err)
	}
	return n, nil
}

// checkBackupFile verifies a backup file without keeping its database.
func checkBackupFile(file string) (fsm.BackupHeader, error) {
	f, err := os.Open(file)
	if err != nil {
		return fsm.BackupHeader{}, err
	}
	defer f.Close()
	tmp, err := os.MkdirTemp(filepath.Dir(file), ".garrison-check-")
	if err != nil {
		return fsm.BackupHeader{}, err
	}
	defer os.RemoveAll(tmp)
	return fsm.ReadBackup(f, filepath.Join(tmp, "state.db"))
}

func newRestoreCommand() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "restore --config node.yml FILE",
		Short: "Seed a stopped node's data directory from a backup, for a new cluster",
		Long: `Checks FILE (a 'garrison backup' or database snapshot: whole, unaltered, of
this build's format, and of the cluster whose root CA node.yml names) and
makes it the state of the node node.yml describes, which must be stopped.
The node's Raft log and snapshots are removed: start the node and run
'garrison cluster init --config node.yml' to make it a new one-member
cluster holding all the state, then add other empty nodes as usual.

Every entity is kept except what belonged to the old cluster's running
members: their controller records, and all API sessions with their
certificates and network sessions, so every client logs in again. The
default admin and its password come from the backup.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadNodeConfig(configPath)
			if err != nil {
				return err
			}
			summary, err := restoreNode(cmd.Context(), cfg, args[0])
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), summary)
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "the node's configuration file")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// restoreNode does garrison restore, touching the data directory only once
// the backup has been checked in full.
func restoreNode(ctx context.Context, cfg *NodeConfig, file string) (string, error) {
	if _, err := os.Stat(cfg.agentSocket()); err == nil {
		if agentCall(ctx, cfg.agentSocket(), http.MethodGet, rest.AgentStatusPath, nil, nil) == nil {
			return "", fmt.Errorf("node %s is running: stop it before restoring into its data directory", cfg.Name)
		}
	}
	caPEM, err := os.ReadFile(cfg.PKI.CA)
	if err != nil {
		return "", fmt.Errorf("read pki.ca: %w", err)
	}
	roots, err := pki.ParseCertificatesPEM(caPEM)
	if err != nil || len(roots) == 0 {
		return "", fmt.Errorf("pki.ca %s holds no certificate", cfg.PKI.CA)
	}
	var ders [][]byte
	for _, c := range roots {
		ders = append(ders, c.Raw)
	}
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", err
	}
	staged := filepath.Join(cfg.DataDir, "state.db.restoring")
	_ = os.Remove(staged)
	h, err := fsm.ReadBackup(f, staged)
	if err != nil {
		return "", fmt.Errorf("%s: %w; the node's data directory was not touched", file, err)
	}
	defer os.Remove(staged)
	if want := rest.ClusterID(ders); h.Cluster != want {
		return "", fmt.Errorf("%s is a backup of another cluster (its root CA differs from %s); the node's data directory was not touched", file, cfg.PKI.CA)
	}
	store, err := fsm.Open(staged, nil)
	if err != nil {
		return "", fmt.Errorf("%s: the database in it does not open: %w; the node's data directory was not touched", file, err)
	}
	kept, err := store.PrepareRestore()
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("prepare the restored state: %w", err)
	}
	// The old Raft log and snapshots describe the old cluster: a new one
	// starts from this state.
	for _, old := range []string{"raft.db", "snapshots"} {
		if err := os.RemoveAll(filepath.Join(cfg.DataDir, old)); err != nil {
			return "", err
		}
	}
	if err := os.Rename(staged, filepath.Join(cfg.DataDir, "state.db")); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "restored the state of %s (index %d, %s) into %s\n", h.Node, h.AppliedIndex, h.CreatedAt.Format(time.RFC3339), cfg.DataDir)
	names := make([]string, 0, len(kept))
	for k, n := range kept {
		if n > 0 {
			names = append(names, fmt.Sprintf("%s %d", k, n))
		}
	}
	sort.Strings(names)
	fmt.Fprintf(&b, "kept: %s\n", strings.Join(names, ", "))
	fmt.Fprintf(&b, "next: start the node, then garrison cluster init --config %s\n", cfg.path)
	return b.String(), nil
}
