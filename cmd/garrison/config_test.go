package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garrison-ctrl/garrison/internal/edge"
)

// The example configuration loads, with the default password hashing
// spelled out; costs no node could verify are refused at load.
func TestExampleConfigAndPasswordHashing(t *testing.T) {
	cfg, err := loadNodeConfig(filepath.Join("..", "..", "deploy", "node.example.yml"))
	if err != nil {
		t.Fatalf("the example configuration: %v", err)
	}
	if cfg.PasswordHashing != edge.DefaultArgon2 {
		t.Fatalf("its password hashing: %+v", cfg.PasswordHashing)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "node.example.yml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(raw), "memoryKiB: 19456", "memoryKiB: 999999999", 1)
	path := filepath.Join(t.TempDir(), "node.yml")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadNodeConfig(path); err == nil || !strings.Contains(err.Error(), "passwordHashing") {
		t.Fatalf("absurd memory accepted: %v", err)
	}
}
