package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// Configuration files never panic the loader: they are taken, with every
// required field, or refused with an error.
func FuzzNodeConfig(f *testing.F) {
	example, err := os.ReadFile("../../deploy/node.example.yml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("name: n1\nhttp:\n  readTimeout: 1ns\n"))
	f.Add([]byte("passwordHashing: {memoryKiB: -1}\nmetrics: {enabled: yes}\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseNodeConfig(data, "/etc/garrison/node.yml")
		if err == nil && (cfg.Name == "" || cfg.DataDir == "" || cfg.HTTP.ReadTimeout < time.Second || cfg.HTTP.MaxPublicRequests < 1) {
			t.Fatalf("took a configuration missing what it needs: %+v", cfg)
		}
	})
}
