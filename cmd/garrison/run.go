package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/garrison-ctrl/garrison/cluster"
	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/buildinfo"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/internal/metrics"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest"
)

func newRunCommand() *cobra.Command {
	var configPath string
	var jsonLogs bool
	cmd := &cobra.Command{
		Use:   "run --config node.yml",
		Short: "Run one controller node in the foreground",
		Long: `Run one Garrison controller node. A node with no cluster state waits until
it is initialised (garrison cluster init) or added to a cluster by its leader
(garrison cluster add). Stop it with SIGINT or SIGTERM.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadNodeConfig(configPath)
			if err != nil {
				return err
			}
			log, level, err := newLogger(cfg.LogLevel, jsonLogs)
			if err != nil {
				return err
			}
			tuneGC(os.Getenv, log)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runNode(ctx, cfg, log, level)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "node configuration file (YAML)")
	cmd.Flags().BoolVar(&jsonLogs, "json-logs", false, "log as JSON lines")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// nodeTLS is the node's certificate material.
type nodeTLS struct {
	signingKey   crypto.Signer
	cert         tls.Certificate
	leaf         *x509.Certificate
	roots        *x509.CertPool
	signingPEM   []byte
	signingKeyID string
	issuer       *pki.CA
	caCerts      []*x509.Certificate
	// api is what the API listener presents (the cluster's API certificate,
	// or cert without one); its key signs enrollment JWTs.
	api      tls.Certificate
	apiKey   crypto.Signer
	apiPEM   []byte
	apiKeyID string
}

func loadNodeTLS(cfg *NodeConfig) (*nodeTLS, error) {
	cert, err := tls.LoadX509KeyPair(cfg.PKI.Cert, cfg.PKI.Key)
	if err != nil {
		return nil, fmt.Errorf("load node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parse node certificate: %w", err)
	}
	cert.Leaf = leaf
	if id, ok := pki.ControllerIDFromCert(leaf, trustDomain(cfg)); !ok || id != cfg.Name {
		return nil, fmt.Errorf("node certificate %s does not name controller %q in trust domain %q", cfg.PKI.Cert, cfg.Name, trustDomain(cfg))
	}
	caPEM, err := os.ReadFile(cfg.PKI.CA)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	cas, err := pki.ParseCertificatesPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("parse CA %s: %w", cfg.PKI.CA, err)
	}
	signingPEM, err := os.ReadFile(cfg.PKI.SigningCert)
	if err != nil {
		return nil, fmt.Errorf("read signing certificate: %w", err)
	}
	signing, err := pki.ParseCertificatesPEM(signingPEM)
	if err != nil {
		return nil, fmt.Errorf("parse signing certificate: %w", err)
	}
	kid, err := pki.KeyID(signing[0].PublicKey)
	if err != nil {
		return nil, fmt.Errorf("signing key id: %w", err)
	}
	keyPEM, err := os.ReadFile(cfg.PKI.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	signingKey, err := pki.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse signing key %s: %w", cfg.PKI.SigningKey, err)
	}
	issuer, err := pki.LoadCA(cfg.PKI.IntermediateCert, cfg.PKI.IntermediateKey)
	if err != nil {
		return nil, fmt.Errorf("load intermediate CA: %w", err)
	}
	apiCertPath, apiKeyPath := cfg.PKI.APICert, cfg.PKI.APIKey
	if apiCertPath == "" {
		apiCertPath, apiKeyPath = cfg.PKI.Cert, cfg.PKI.Key
	}
	api, err := tls.LoadX509KeyPair(apiCertPath, apiKeyPath)
	if err != nil {
		return nil, fmt.Errorf("load API certificate: %w", err)
	}
	if api.Leaf, err = x509.ParseCertificate(api.Certificate[0]); err != nil {
		return nil, fmt.Errorf("parse API certificate: %w", err)
	}
	if _, err := api.Leaf.Verify(x509.VerifyOptions{Roots: pki.NewCertPool(cas...), Intermediates: pki.NewCertPool(issuer.Chain...),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, fmt.Errorf("API certificate %s does not chain to the cluster root: %w", apiCertPath, err)
	}
	apiKey, ok := api.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("API key %s cannot sign", apiKeyPath)
	}
	apiPEM, err := os.ReadFile(apiCertPath)
	if err != nil {
		return nil, fmt.Errorf("read API certificate: %w", err)
	}
	apiKeyID, err := pki.KeyID(api.Leaf.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("API key id: %w", err)
	}
	return &nodeTLS{cert: cert, leaf: leaf, roots: pki.NewCertPool(cas...), signingPEM: signingPEM, signingKeyID: kid,
		signingKey: signingKey, issuer: issuer, caCerts: cas, api: api, apiKey: apiKey, apiPEM: apiPEM, apiKeyID: apiKeyID}, nil
}

func trustDomain(cfg *NodeConfig) string {
	if cfg.TrustDomain == "" {
		return pki.DefaultTrustDomain
	}
	return cfg.TrustDomain
}

// loadScrapeCerts reads metrics.scrapeCert, if set.
func loadScrapeCerts(cfg *NodeConfig) ([]*x509.Certificate, error) {
	if cfg.Metrics.ScrapeCert == "" {
		return nil, nil
	}
	data, err := os.ReadFile(cfg.Metrics.ScrapeCert)
	if err != nil {
		return nil, fmt.Errorf("metrics.scrapeCert: %w", err)
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("metrics.scrapeCert %s: no certificate: %v", cfg.Metrics.ScrapeCert, err)
	}
	return certs, nil
}

// shutdownLimit bounds a node's stop.
const shutdownLimit = 10 * time.Second

// runNode runs a node until ctx ends.
func runNode(ctx context.Context, cfg *NodeConfig, log *slog.Logger, level *slog.LevelVar) error {
	log = log.With("node", cfg.Name)
	certs, err := loadNodeTLS(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	store, err := fsm.Open(filepath.Join(cfg.DataDir, "state.db"), log)
	if err != nil {
		return err
	}
	defer store.Close()

	apiURL := "https://" + cfg.AdvertiseAPIAddress
	self := func() *pb.Controller {
		addrs := map[string]*pb.ApiAddressList{}
		for name, path := range rest.APIPaths {
			addrs[name] = &pb.ApiAddressList{Addresses: []*pb.ApiAddress{{Url: apiURL + path, Version: "v1"}}}
		}
		return &pb.Controller{
			CtrlAddress:    "tls:" + cfg.AdvertiseCluster,
			ApiAddresses:   addrs,
			CertPem:        string(pki.EncodeCertificatesPEM(certs.leaf)),
			Fingerprint:    pki.Fingerprint(certs.leaf),
			SigningCertPem: string(certs.signingPEM),
			SigningKid:     certs.signingKeyID,
			ApiCertPem:     string(certs.apiPEM),
			ApiKid:         certs.apiKeyID,
			Version:        buildinfo.Version,
		}
	}
	var mtr *metrics.Metrics
	var scrapeCerts []*x509.Certificate
	if cfg.Metrics.Enabled {
		mtr = metrics.New()
		if scrapeCerts, err = loadScrapeCerts(cfg); err != nil {
			return err
		}
		if len(scrapeCerts) == 0 {
			log.Warn("metrics are on and no scrapeCert is set: anyone who reaches the API port can read /metrics")
		}
	}
	node, err := cluster.Start(cluster.Config{
		Metrics: mtr,
		ID:      cfg.Name, DataDir: cfg.DataDir, BindAddress: cfg.ClusterAddress, AdvertiseAddress: cfg.AdvertiseCluster,
		TLS:   cluster.TLSConfig{Cert: certs.cert, Roots: certs.roots, TrustDomain: cfg.TrustDomain},
		Store: store, Log: log, Self: self,
		SnapshotThreshold: cfg.Raft.SnapshotThreshold, TrailingLogs: cfg.Raft.TrailingLogs,
		SnapshotInterval: cfg.Raft.SnapshotInterval, HeartbeatTimeout: cfg.Raft.HeartbeatTimeout,
		ElectionTimeout: cfg.Raft.ElectionTimeout,
		ChallengeSigners: []*cluster.ChallengeSigner{
			{Key: certs.signingKey, KeyID: certs.signingKeyID},
			{Key: certs.apiKey, KeyID: certs.apiKeyID},
		},
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := node.Shutdown(); err != nil {
			log.Warn("raft shutdown", "err", err)
		}
	}()

	api := rest.New(rest.Config{Node: node, Store: store, AdvertiseURL: apiURL, Log: log, SessionTimeout: cfg.SessionTimeout,
		Signer:       &edge.TokenSigner{Key: certs.signingKey, KeyID: certs.signingKeyID, Issuer: apiURL},
		EnrollSigner: &edge.TokenSigner{Key: certs.apiKey, KeyID: certs.apiKeyID, Issuer: cfg.PublicURL},
		Issuer:       certs.issuer, TrustDomain: cfg.TrustDomain, CACerts: certs.caCerts, PasswordHashing: cfg.PasswordHashing,
		MaxPublicRequests: cfg.HTTP.MaxPublicRequests, Metrics: mtr, ScrapeCerts: scrapeCerts, LogLevel: level,
		BackupDir: filepath.Join(cfg.DataDir, "backups")})
	ln, err := net.Listen("tcp", cfg.APIAddress)
	if err != nil {
		return fmt.Errorf("listen on API address %s: %w", cfg.APIAddress, err)
	}
	httpSrv := &http.Server{
		Handler: api.Handler(),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{certs.api},
			// Ask for a client certificate but do not require one: password
			// logins have none, certificate logins are checked by the API.
			ClientAuth: tls.RequestClientCert,
		},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go api.RunSessionMaintenance(ctx)
	errc := make(chan error, 2)
	go func() { errc <- httpSrv.ServeTLS(ln, "", "") }()

	sock := cfg.agentSocket()
	_ = os.Remove(sock)
	agentLn, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen on agent socket %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		return fmt.Errorf("restrict agent socket: %w", err)
	}
	agentSrv := &http.Server{Handler: api.AgentHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { errc <- agentSrv.Serve(agentLn) }()

	log.Info("garrison node running", "version", buildinfo.Version, "api", apiURL, "cluster", cfg.AdvertiseCluster, "agent", sock)
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		log.Error("listener stopped", "err", err)
	}
	// A stop must not hang: past shutdownLimit the node says what it was
	// waiting for and exits, which Raft and bbolt survive as they survive
	// kill -9 (the fault harness once saw a stop take over 15 s).
	// It is never stopped: it must outlast the deferred closing of Raft and
	// the state, and the process ends right after those.
	time.AfterFunc(shutdownLimit, func() {
		var stacks bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		log.Error("shutdown is taking too long; exiting", "limit", shutdownLimit.String(), "goroutines", stacks.String())
		os.Exit(1)
	})
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(shutCtx)
	_ = agentSrv.Shutdown(shutCtx)
	_ = os.Remove(sock)
	return err
}
