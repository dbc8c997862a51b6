package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/pki"
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

// The example's optional settings, uncommented, load with the values it
// says are the defaults; a misspelt key is refused, naming it.
func TestExampleOptionalSettings(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "node.example.yml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	optional := strings.Index(text, "# Optional settings")
	if optional < 0 {
		t.Fatal("the example has no optional settings")
	}
	// A commented setting: "# key: value", "# key:" or "#   nested: value".
	setting := regexp.MustCompile(`^#( {2})? ?([a-zA-Z]+:( \S.*)?)$`)
	lines := strings.Split(text[optional:], "\n")
	for i, l := range lines {
		if m := setting.FindStringSubmatch(l); m != nil {
			lines[i] = m[1] + m[2]
		}
	}
	uncommented := text[:optional] + strings.Join(lines, "\n")
	cfg, err := parseNodeConfig([]byte(uncommented), "/etc/garrison/node.yml")
	if err != nil {
		t.Fatalf("the uncommented example: %v\n%s", err, uncommented[optional:])
	}
	want := RaftConfig{SnapshotThreshold: 8192, TrailingLogs: 10240, SnapshotInterval: 2 * time.Minute,
		HeartbeatTimeout: time.Second, ElectionTimeout: time.Second}
	if cfg.TrustDomain != pki.DefaultTrustDomain || cfg.SessionTimeout != 30*time.Minute || cfg.LogLevel != "info" || cfg.Raft != want {
		t.Fatalf("optional settings: trustDomain %q, sessionTimeout %v, logLevel %q, raft %+v",
			cfg.TrustDomain, cfg.SessionTimeout, cfg.LogLevel, cfg.Raft)
	}

	misspelt := strings.Replace(uncommented, "sessionTimeout:", "sesionTimeout:", 1)
	if _, err := parseNodeConfig([]byte(misspelt), "/etc/garrison/node.yml"); err == nil || !strings.Contains(err.Error(), "sesionTimeout") {
		t.Fatalf("a misspelt key: %v", err)
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
