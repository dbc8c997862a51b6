package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/garrison-ctrl/garrison/pki"
)

// File names of a CA directory, as written by `garrison pki create ca` and
// read by `garrison pki create node --ca-dir`.
const (
	pkiCACertFileName = "ca.pem"
	pkiCAKeyFileName  = "ca.key"
	// The cluster's API certificate, written by `garrison pki create api`.
	pkiAPICertFileName = "api.pem"
	pkiAPIKeyFileName  = "api.key"
)

// newPKICommand returns the `garrison pki` command tree for creating the
// cluster root CA and per-node certificate directories.
func newPKICommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pki",
		Short: "Manage cluster certificates and keys",
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a root CA or a node's certificates",
	}
	create.AddCommand(newPKICreateCACommand(), newPKICreateNodeCommand(), newPKICreateAPICommand())
	cmd.AddCommand(create)
	return cmd
}

func newPKICreateCACommand() *cobra.Command {
	var (
		out      string
		name     string
		validity time.Duration
		force    bool
	)
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Create the cluster root CA",
		Long: "Create a self-signed cluster root CA and write it to DIR/" + pkiCACertFileName +
			" and DIR/" + pkiCAKeyFileName + ".\n\nKeep " + pkiCAKeyFileName +
			" offline if you can: it is only needed to add nodes.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Usage is only helpful for flag mistakes, which cobra reports
			// before RunE runs.
			cmd.SilenceUsage = true
			certPath := filepath.Join(out, pkiCACertFileName)
			keyPath := filepath.Join(out, pkiCAKeyFileName)
			if !force {
				// Overwriting a root CA silently would strand every node
				// that trusts the old one.
				if err := pkiRefuseExisting(certPath, keyPath); err != nil {
					return err
				}
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return fmt.Errorf("create CA directory: %w", err)
			}
			ca, err := pki.NewRootCA(name, validity)
			if err != nil {
				return err
			}
			if err := ca.Save(certPath, keyPath); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			pkiPrintf(w, "created root CA %q (expires %s)\n", ca.Cert.Subject.CommonName, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
			pkiPrintf(w, "  certificate: %s\n  key:         %s\n  fingerprint: %s\n", certPath, keyPath, pki.Fingerprint(ca.Cert))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "directory to write "+pkiCACertFileName+" and "+pkiCAKeyFileName+" to (required)")
	f.StringVar(&name, "name", "Garrison Root CA", "common name of the root CA")
	f.DurationVar(&validity, "validity", 87600*time.Hour, "lifetime of the root CA")
	f.BoolVar(&force, "force", false, "overwrite an existing CA in --out")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func newPKICreateNodeCommand() *cobra.Command {
	var (
		caDir       string
		name        string
		out         string
		dnsNames    []string
		ips         []net.IP
		trustDomain string
		validity    time.Duration
		force       bool
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Create a node's intermediate CA, server and signing certificates",
		Long: "Create a node directory holding the cluster root certificate (ca.pem), a per-node\n" +
			"intermediate CA (intermediate.pem/.key), and a server certificate (server.pem/.key)\n" +
			"and JWT signing certificate (signing.pem/.key) issued by that intermediate.\n\n" +
			"The root CA is read from --ca-dir (" + pkiCACertFileName + " and " + pkiCAKeyFileName + ").",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			root, err := pki.LoadCA(filepath.Join(caDir, pkiCACertFileName), filepath.Join(caDir, pkiCAKeyFileName))
			if err != nil {
				return err
			}
			req := pki.NodeCertRequest{
				Name:        name,
				TrustDomain: trustDomain,
				DNSNames:    dnsNames,
				IPs:         ips,
				Validity:    validity,
			}
			var files pki.NodeFiles
			if force {
				files, err = pkiReplaceNodeFiles(root, out, req)
			} else {
				files, err = pki.CreateNodeFiles(root, out, req)
				if errors.Is(err, fs.ErrExist) {
					err = fmt.Errorf("%w (use --force to replace the node's certificates and keys)", err)
				}
			}
			if err != nil {
				return err
			}
			td := trustDomain
			if td == "" {
				td = pki.DefaultTrustDomain
			}
			w := cmd.OutOrStdout()
			pkiPrintf(w, "created node %q (spiffe://%s/controller/%s) in %s\n", name, td, name, files.Dir)
			for _, p := range files.Files() {
				pkiPrintf(w, "  %s\n", p)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&caDir, "ca-dir", "", "directory holding the root CA's "+pkiCACertFileName+" and "+pkiCAKeyFileName+" (required)")
	f.StringVar(&name, "name", "", "node name; becomes the certificate CN and SPIFFE ID (required)")
	f.StringVar(&out, "out", "", "node directory to create the files in (required)")
	f.StringSliceVar(&dnsNames, "dns", []string{"localhost"}, "DNS SANs for the server certificate (repeatable or comma-separated)")
	f.IPSliceVar(&ips, "ip", []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}, "IP SANs for the server certificate (repeatable or comma-separated)")
	f.StringVar(&trustDomain, "trust-domain", pki.DefaultTrustDomain, "SPIFFE trust domain")
	f.DurationVar(&validity, "validity", pki.DefaultLeafValidity, "lifetime of the server and signing certificates")
	f.BoolVar(&force, "force", false, "replace existing node files in --out")
	for _, required := range []string{"ca-dir", "name", "out"} {
		_ = cmd.MarkFlagRequired(required)
	}
	return cmd
}

func newPKICreateAPICommand() *cobra.Command {
	var (
		caDir, out, trustDomain string
		dnsNames                []string
		ips                     []net.IP
		validity                time.Duration
		force                   bool
	)
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Create the cluster's API certificate, shared by every node",
		Long: "Create the certificate every node presents on its API listener, issued by the\n" +
			"root CA in --ca-dir, and write it to DIR/" + pkiAPICertFileName + " and DIR/" + pkiAPIKeyFileName + ".\n\n" +
			"Every node of the cluster gets the same two files (pki.apiCert and pki.apiKey in\n" +
			"node.yml), so a client behind a load balancer sees one server whichever node\n" +
			"answers, and an enrollment JWT signed with the key by any node verifies the\n" +
			"way OpenZiti's SDKs check it: with the key of the certificate the server at the\n" +
			"JWT's issuer URL presents. The SANs must cover every name clients use: the load\n" +
			"balancer's and each node's advertised API address.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			certPath := filepath.Join(out, pkiAPICertFileName)
			keyPath := filepath.Join(out, pkiAPIKeyFileName)
			if !force {
				if err := pkiRefuseExisting(certPath, keyPath); err != nil {
					return err
				}
			}
			root, err := pki.LoadCA(filepath.Join(caDir, pkiCACertFileName), filepath.Join(caDir, pkiCAKeyFileName))
			if err != nil {
				return err
			}
			chainPEM, keyPEM, err := root.IssueAPICert(pki.APICertRequest{TrustDomain: trustDomain, DNSNames: dnsNames, IPs: ips, Validity: validity})
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return fmt.Errorf("create directory: %w", err)
			}
			if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
				return fmt.Errorf("write API key: %w", err)
			}
			if err := os.WriteFile(certPath, chainPEM, 0o644); err != nil {
				return fmt.Errorf("write API certificate: %w", err)
			}
			pkiPrintf(cmd.OutOrStdout(), "created the API certificate for %v %v\n  certificate: %s\n  key:         %s\n", dnsNames, ips, certPath, keyPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&caDir, "ca-dir", "", "directory holding the root CA's "+pkiCACertFileName+" and "+pkiCAKeyFileName+" (required)")
	f.StringVar(&out, "out", "", "directory to write "+pkiAPICertFileName+" and "+pkiAPIKeyFileName+" to (required)")
	f.StringSliceVar(&dnsNames, "dns", []string{"localhost"}, "DNS SANs: the load balancer's and every node's API host name (repeatable or comma-separated)")
	f.IPSliceVar(&ips, "ip", []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}, "IP SANs (repeatable or comma-separated)")
	f.StringVar(&trustDomain, "trust-domain", pki.DefaultTrustDomain, "SPIFFE trust domain")
	f.DurationVar(&validity, "validity", pki.DefaultLeafValidity, "lifetime of the certificate")
	f.BoolVar(&force, "force", false, "overwrite an existing API certificate in --out")
	for _, required := range []string{"ca-dir", "out"} {
		_ = cmd.MarkFlagRequired(required)
	}
	return cmd
}

// pkiReplaceNodeFiles builds a complete new node directory next to dir and
// only then moves the files into place, so a failure (say, an invalid name)
// leaves the old certificates and keys untouched. The node's intermediate is
// replaced too, so identities it issued stop verifying; that is what
// --force asks for.
func pkiReplaceNodeFiles(root *pki.CA, dir string, req pki.NodeCertRequest) (pki.NodeFiles, error) {
	files := pki.NodeFilesIn(dir)
	if err := os.MkdirAll(files.Dir, 0o700); err != nil {
		return pki.NodeFiles{}, fmt.Errorf("create node directory: %w", err)
	}
	staging, err := os.MkdirTemp(filepath.Dir(files.Dir), "."+filepath.Base(files.Dir)+".new-*")
	if err != nil {
		return pki.NodeFiles{}, fmt.Errorf("create staging directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(staging) }()
	staged, err := pki.CreateNodeFiles(root, staging, req)
	if err != nil {
		return pki.NodeFiles{}, err
	}
	from, to := staged.Files(), files.Files()
	for i := range from {
		if err := os.Rename(from[i], to[i]); err != nil {
			return pki.NodeFiles{}, fmt.Errorf("move new node file into place: %w", err)
		}
	}
	return files, nil
}

// pkiRefuseExisting fails if any of paths exists; a stat error other than
// "not found" is reported too, since it means we cannot tell.
func pkiRefuseExisting(paths ...string) error {
	for _, p := range paths {
		_, err := os.Lstat(p)
		if err == nil {
			return fmt.Errorf("%s already exists (use --force to overwrite)", p)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("check %s: %w", p, err)
		}
	}
	return nil
}

// pkiPrintf writes progress output; a failed write to stdout is not worth
// failing a command whose files were already created.
func pkiPrintf(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}
