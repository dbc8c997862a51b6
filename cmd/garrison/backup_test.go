package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	"github.com/garrison-ctrl/garrison/rest"
)

// A backup of another cluster (another root CA) is refused, and the node's
// data directory is left as it was; one of this cluster is restored.
func TestRestoreChecksTheCluster(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewRootCA("restore test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pki.EncodeCertificatesPEM(ca.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &NodeConfig{Name: "n1", DataDir: filepath.Join(dir, "data"), PKI: PKIConfig{CA: caFile}}
	src, err := fsm.Open(filepath.Join(dir, "src.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	write := func(cluster string) string {
		var buf bytes.Buffer
		if _, err := src.WriteBackup(&buf, cluster, "n0"); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, cluster+".backup")
		if err := os.WriteFile(f, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(cfg.DataDir, "raft.db")
	if err := os.WriteFile(marker, []byte("old log"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = restoreNode(context.Background(), cfg, write("another-cluster"))
	if err == nil || !strings.Contains(err.Error(), "another cluster") || !strings.Contains(err.Error(), "not touched") {
		t.Fatalf("a backup of another cluster: %v", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the refused restore touched the data directory: %v", err)
	}
	out, err := restoreNode(context.Background(), cfg, write(rest.ClusterID([][]byte{ca.Cert.Raw})))
	if err != nil || !strings.Contains(out, "garrison cluster init") {
		t.Fatalf("restore: %v %s", err, out)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatal("the old Raft log is still there")
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "state.db")); err != nil {
		t.Fatal(err)
	}
}
