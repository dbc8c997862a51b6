// Package deploy holds Garrison's deployment artefacts and renders the ones
// that depend on the cluster layout.
//
// A Garrison cluster is fronted by HAProxy in TCP pass-through mode: TLS is
// end-to-end between a client and a node (clients authenticate with client
// certificates during the handshake), and every node answers every request,
// so the load balancer needs no stickiness. RenderHAProxy produces that
// HAProxy configuration from the embedded template
// haproxy/haproxy.cfg.tmpl.
//
// The other files in this directory are static examples for a production
// install: systemd/garrison.service, haproxy/haproxy-production.cfg and
// node.example.yml.
package deploy

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"text/template"
	"unicode"
)

//go:embed haproxy/haproxy.cfg.tmpl
var haproxyTemplateText string

// haproxyTemplate is parsed once; a parse error is a programming error
// caught by the package's tests.
var haproxyTemplate = template.Must(
	template.New("haproxy.cfg").Option("missingkey=error").Parse(haproxyTemplateText))

// HAProxyServer is one Garrison node behind the load balancer.
type HAProxyServer struct {
	// Name is the HAProxy server name (shown in logs and stats). It must be
	// unique within the config and use only the characters HAProxy accepts
	// in names: letters, digits, '-', '_', '.' and ':'.
	Name string
	// Address is the host:port of the node's HTTPS API listener. The host
	// may be an IP address (IPv6 in brackets, e.g. [::1]:1280) or a host
	// name.
	Address string
}

// HAProxyConfig describes the load balancer in front of a Garrison cluster.
type HAProxyConfig struct {
	// BindAddress is the host:port HAProxy listens on, e.g. 127.0.0.1:1280.
	// The host may be empty (":1280") to listen on all addresses.
	BindAddress string
	// Servers lists the cluster's nodes; at least one is required.
	Servers []HAProxyServer
	// StatsSocket is the optional path of an HAProxy admin stats socket,
	// e.g. a file under the cluster's home directory. No socket is
	// configured when it is empty.
	StatsSocket string
}

// RenderHAProxy validates cfg and renders the HAProxy configuration for it.
//
// It rejects an empty or malformed BindAddress, an empty server list, server
// names that are empty, duplicated or contain whitespace or other characters
// HAProxy does not accept, server addresses that are not host:port with a
// valid port, and a StatsSocket containing whitespace or too long for a unix
// socket path. The returned bytes
// are a complete configuration file; check it with `haproxy -c -f FILE`.
func RenderHAProxy(cfg HAProxyConfig) ([]byte, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("deploy: invalid HAProxy config: %w", err)
	}
	var buf bytes.Buffer
	if err := haproxyTemplate.Execute(&buf, cfg); err != nil {
		return nil, fmt.Errorf("deploy: rendering HAProxy config: %w", err)
	}
	return buf.Bytes(), nil
}

func (cfg HAProxyConfig) validate() error {
	if cfg.BindAddress == "" {
		return errors.New("empty bind address")
	}
	if err := checkHostPort(cfg.BindAddress, true); err != nil {
		return fmt.Errorf("bind address %q: %w", cfg.BindAddress, err)
	}
	if len(cfg.Servers) == 0 {
		return errors.New("no servers")
	}
	seen := make(map[string]bool, len(cfg.Servers))
	for i, s := range cfg.Servers {
		if err := checkServerName(s.Name); err != nil {
			return fmt.Errorf("server %d: name %q: %w", i, s.Name, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("server %d: duplicate name %q", i, s.Name)
		}
		seen[s.Name] = true
		if err := checkHostPort(s.Address, false); err != nil {
			return fmt.Errorf("server %q: address %q: %w", s.Name, s.Address, err)
		}
	}
	if strings.ContainsFunc(cfg.StatsSocket, isSpaceOrControl) {
		return fmt.Errorf("stats socket path %q contains whitespace or control characters", cfg.StatsSocket)
	}
	if len(cfg.StatsSocket) > maxUnixSocketPath {
		return fmt.Errorf("stats socket path %q is longer than %d bytes (the limit for a unix socket path)",
			cfg.StatsSocket, maxUnixSocketPath)
	}
	return nil
}

// maxUnixSocketPath is the longest path a unix socket can be bound to on
// Linux (sizeof(sun_path) - 1).
const maxUnixSocketPath = 107

func isSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// checkServerName applies HAProxy's own rule for proxy and server names
// (its invalid_char(): only [A-Za-z0-9_.:-]), which in particular excludes
// whitespace, so a name can never break the config line it is on.
func checkServerName(name string) error {
	if name == "" {
		return errors.New("empty")
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '-', r == '_', r == '.', r == ':':
		case isSpaceOrControl(r):
			return errors.New("contains whitespace or control characters")
		default:
			return fmt.Errorf("contains %q; only letters, digits, '-', '_', '.' and ':' are allowed", r)
		}
	}
	return nil
}

// checkHostPort requires host:port with a numeric port in 1..65535. The
// host may be empty only when allowEmptyHost is set (bind addresses).
func checkHostPort(addr string, allowEmptyHost bool) error {
	if strings.ContainsFunc(addr, isSpaceOrControl) {
		return errors.New("contains whitespace or control characters")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("not host:port")
	}
	if host == "" && !allowEmptyHost {
		return errors.New("empty host")
	}
	if strings.ContainsAny(host, "#'\"\\") {
		return errors.New("invalid characters in host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return fmt.Errorf("invalid port %q", port)
	}
	return nil
}
