package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/garrison-ctrl/garrison/internal/edge"
)

// NodeConfig is the YAML configuration of one node (deploy/node.example.yml).
type NodeConfig struct {
	Name                string `yaml:"name"`
	DataDir             string `yaml:"dataDir"`
	ClusterAddress      string `yaml:"clusterAddress"`
	AdvertiseCluster    string `yaml:"advertiseClusterAddress,omitempty"`
	APIAddress          string `yaml:"apiAddress"`
	AdvertiseAPIAddress string `yaml:"advertiseApiAddress,omitempty"`
	// PublicURL is the URL clients are given for the cluster as a whole
	// (the load balancer's): the issuer of enrollment JWTs. Default
	// https://<advertiseApiAddress>.
	PublicURL      string        `yaml:"publicUrl,omitempty"`
	TrustDomain    string        `yaml:"trustDomain,omitempty"`
	SessionTimeout time.Duration `yaml:"sessionTimeout,omitempty"`
	LogLevel       string        `yaml:"logLevel,omitempty"`
	Raft           RaftConfig    `yaml:"raft,omitempty"`
	PKI            PKIConfig     `yaml:"pki"`
	// PasswordHashing are the argon2id costs of new password hashes
	// (default 19 MiB, 2 passes, 1 lane). Every hash records its own, so
	// changing them leaves existing passwords working; a node verifies
	// hashes of up to 256 MiB, 10 passes and 16 lanes.
	PasswordHashing edge.Argon2Params `yaml:"passwordHashing,omitempty"`
	// HTTP bounds the API listener's requests.
	HTTP HTTPConfig `yaml:"http,omitempty"`
	// Metrics serves Prometheus metrics at /metrics on the API listener.
	Metrics MetricsConfig `yaml:"metrics,omitempty"`

	// path is where the file was read from; relative paths in it are
	// relative to its directory.
	path string
}

// HTTPConfig bounds what slow or many clients can hold on the API
// listener; zero values keep the defaults.
type HTTPConfig struct {
	// ReadTimeout bounds reading a whole request, body included (default
	// 30s): a client that sends its headers and then trickles or
	// withholds its body is cut off.
	ReadTimeout time.Duration `yaml:"readTimeout,omitempty"`
	// MaxPublicRequests bounds the requests in flight that need no
	// session (logins, enrollment, /oidc; default 256); more are answered
	// 429 at once.
	MaxPublicRequests int `yaml:"maxPublicRequests,omitempty"`
}

// MetricsConfig switches /metrics on and says who may scrape it.
type MetricsConfig struct {
	Enabled bool `yaml:"enabled"`
	// ScrapeCert is a PEM file of the client certificate(s) a scraper must
	// present; without it anyone who reaches the API port may scrape.
	ScrapeCert string `yaml:"scrapeCert,omitempty"`
}

// Defaults of HTTPConfig.
const (
	defaultReadTimeout       = 30 * time.Second
	defaultMaxPublicRequests = 256
)

// RaftConfig tunes replication; zero values keep the defaults.
type RaftConfig struct {
	SnapshotThreshold uint64        `yaml:"snapshotThreshold,omitempty"`
	TrailingLogs      uint64        `yaml:"trailingLogs,omitempty"`
	SnapshotInterval  time.Duration `yaml:"snapshotInterval,omitempty"`
	HeartbeatTimeout  time.Duration `yaml:"heartbeatTimeout,omitempty"`
	ElectionTimeout   time.Duration `yaml:"electionTimeout,omitempty"`
}

// PKIConfig names the node's certificate files.
type PKIConfig struct {
	CA               string `yaml:"ca"`
	Cert             string `yaml:"cert"`
	Key              string `yaml:"key"`
	SigningCert      string `yaml:"signingCert"`
	SigningKey       string `yaml:"signingKey"`
	IntermediateCert string `yaml:"intermediateCert,omitempty"`
	IntermediateKey  string `yaml:"intermediateKey,omitempty"`
	// APICert and APIKey are the cluster's API certificate, the same on
	// every node (garrison pki create api). Without them the node
	// presents cert on its API listener and signs enrollment JWTs with
	// key, which works only for clients that reach this node by its own URL.
	APICert string `yaml:"apiCert,omitempty"`
	APIKey  string `yaml:"apiKey,omitempty"`
}

// loadNodeConfig reads and checks a node configuration file.
func loadNodeConfig(path string) (*NodeConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parseNodeConfig(data, path)
}

// parseNodeConfig reads and checks the text of a node configuration read
// from path (relative paths in it are relative to path's directory).
func parseNodeConfig(data []byte, path string) (*NodeConfig, error) {
	cfg := &NodeConfig{}
	// Unknown keys are refused: a misspelt optional setting would
	// otherwise leave its default in force without a word.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	cfg.path = path
	if err := cfg.normalize(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func (c *NodeConfig) normalize() error {
	var errs []error
	need := func(v, name string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
	}
	need(c.Name, "name")
	need(c.DataDir, "dataDir")
	need(c.ClusterAddress, "clusterAddress")
	need(c.APIAddress, "apiAddress")
	need(c.PKI.CA, "pki.ca")
	need(c.PKI.Cert, "pki.cert")
	need(c.PKI.Key, "pki.key")
	need(c.PKI.SigningCert, "pki.signingCert")
	need(c.PKI.SigningKey, "pki.signingKey")
	// The intermediate signs the certificates this node hands out
	// (enrollment, API session certificates, extensions).
	need(c.PKI.IntermediateCert, "pki.intermediateCert")
	need(c.PKI.IntermediateKey, "pki.intermediateKey")
	for _, a := range []struct{ v, name string }{{c.ClusterAddress, "clusterAddress"}, {c.APIAddress, "apiAddress"}} {
		if a.v != "" {
			if _, _, err := net.SplitHostPort(a.v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", a.name, err))
			}
		}
	}
	if (c.PKI.APICert == "") != (c.PKI.APIKey == "") {
		errs = append(errs, errors.New("pki.apiCert and pki.apiKey go together"))
	}
	if c.AdvertiseAPIAddress == "" {
		c.AdvertiseAPIAddress = c.APIAddress
	}
	if c.PublicURL == "" {
		c.PublicURL = "https://" + c.AdvertiseAPIAddress
	} else if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		errs = append(errs, fmt.Errorf("publicUrl %q: want https://host[:port]", c.PublicURL))
	} else {
		c.PublicURL = "https://" + u.Host
	}
	if c.AdvertiseCluster == "" {
		c.AdvertiseCluster = c.ClusterAddress
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	switch {
	case c.HTTP.ReadTimeout == 0:
		c.HTTP.ReadTimeout = defaultReadTimeout
	case c.HTTP.ReadTimeout < time.Second:
		errs = append(errs, fmt.Errorf("http.readTimeout %s: want at least 1s", c.HTTP.ReadTimeout))
	}
	switch {
	case c.HTTP.MaxPublicRequests == 0:
		c.HTTP.MaxPublicRequests = defaultMaxPublicRequests
	case c.HTTP.MaxPublicRequests < 1:
		errs = append(errs, fmt.Errorf("http.maxPublicRequests %d: want at least 1", c.HTTP.MaxPublicRequests))
	}
	if c.PasswordHashing != (edge.Argon2Params{}) {
		if err := c.PasswordHashing.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("passwordHashing: %w", err))
		}
	}
	base := filepath.Dir(c.path)
	for _, p := range []*string{&c.DataDir, &c.PKI.CA, &c.PKI.Cert, &c.PKI.Key, &c.PKI.SigningCert, &c.PKI.SigningKey, &c.PKI.IntermediateCert, &c.PKI.IntermediateKey, &c.PKI.APICert, &c.PKI.APIKey, &c.Metrics.ScrapeCert} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	return errors.Join(errs...)
}

// agentSocket is the node's local operator socket.
func (c *NodeConfig) agentSocket() string { return filepath.Join(c.DataDir, "garrison.sock") }

func writeNodeConfig(path string, c *NodeConfig) error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}
