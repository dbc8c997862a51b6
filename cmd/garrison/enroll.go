package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/garrison-ctrl/garrison/internal/trust"
	"github.com/garrison-ctrl/garrison/pki"
)

func newEdgeEnrollCommand() *cobra.Command {
	var out, caFile, controller string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "enroll NAME.jwt -o NAME.json [--ca root.pem] [--controller URL]",
		Short: "Enroll an identity with its one-time-token JWT and save the identity file",
		Long: `Enroll an identity from the JWT 'garrison edge create identity NAME -o NAME.jwt'
wrote. Before sending anything, it checks the network the JWT names:

  1. fetch the trust bundle from the JWT's issuer (or --controller, e.g. a
     load balancer in front of the cluster);
  2. over TLS verified against the bundle's root, fetch /enroll/jwks and
     verify the JWT's signature with the key its kid names;
  3. send a challenge with a fresh nonce for that key and verify the
     signature, which only the member holding the key can produce.

Then it makes a new P-256 key, sends a CSR with the token, and writes the
identity file (OpenZiti's format: ztAPI, ztAPIs, and id.key/cert/ca as
"pem:" values) with mode 0600. Without --ca the trust bundle's root is
trusted on first use, as by 'garrison edge verify-network'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("name the identity file to write with -o")
			}
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read enrollment JWT: %w", err)
			}
			roots, err := readRoots(caFile)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			en, err := trust.CheckEnrollment(ctx, strings.TrimSpace(string(raw)), controller, trust.Options{Roots: roots, Timeout: timeout})
			if err != nil {
				return fmt.Errorf("enrollment JWT not trusted: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "network verified: JWT signed by key %s, challenge answered through %s\n", en.KeyID, en.ClientAPI)
			if en.Claims.EnrollmentMethod != "ott" {
				return fmt.Errorf("this JWT enrolls with %q; only ott enrollment is supported by this command", en.Claims.EnrollmentMethod)
			}
			// Claim the output file before the token is spent, so a name
			// clash cannot lose the enrolled key.
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("identity file: %w", err)
			}
			id, err := enrollOTT(ctx, en)
			if err == nil {
				err = writeIdentityFile(f, id)
			}
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("write identity file: %w", cerr)
			}
			if err != nil {
				_ = os.Remove(out)
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "enrolled identity %s; identity file written to %s\n", en.Claims.Subject, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "identity file to write (must not exist)")
	cmd.Flags().StringVar(&caFile, "ca", "", "PEM file with the network's root CA; without it the root is trusted on first use")
	cmd.Flags().StringVar(&controller, "controller", "", "controller or load balancer URL to enroll through (default: the JWT's issuer)")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Second, "timeout of each request")
	return cmd
}

// readRoots reads an optional PEM file of pinned root CAs.
func readRoots(path string) ([]*x509.Certificate, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read --ca: %w", err)
	}
	roots, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("read --ca %s: %w", path, err)
	}
	return roots, nil
}

// identityFile is OpenZiti's identity JSON, which its SDKs and tunnelers
// load.
type identityFile struct {
	ZtAPI  string   `json:"ztAPI"`
	ZtAPIs []string `json:"ztAPIs,omitempty"`
	ID     struct {
		Key  string `json:"key"`
		Cert string `json:"cert"`
		CA   string `json:"ca"`
	} `json:"id"`
	ConfigTypes []string `json:"configTypes"`
}

// enrollOTT makes a key and CSR and exchanges the token for a certificate.
func enrollOTT(ctx context.Context, en *trust.Enrollment) (*identityFile, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: en.Claims.Subject}}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	body, _ := json.Marshal(map[string]string{
		"token": en.Claims.ID, "clientCsr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, en.ClientAPI+"/enroll/ott", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := en.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	var env struct {
		Data struct {
			Cert string `json:"cert"`
			CA   string `json:"ca"`
		} `json:"data"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("enroll: HTTP %d, unreadable answer: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		if env.Error != nil {
			return nil, fmt.Errorf("enroll: HTTP %d %s: %s", resp.StatusCode, env.Error.Code, env.Error.Message)
		}
		return nil, fmt.Errorf("enroll: HTTP %d", resp.StatusCode)
	}
	certs, err := pki.ParseCertificatesPEM([]byte(env.Data.Cert))
	if err != nil {
		return nil, fmt.Errorf("enroll: certificate: %w", err)
	}
	if !publicKeyMatches(certs[0], key) {
		return nil, errors.New("enroll: the certificate is not for the key that was sent")
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	id := &identityFile{ZtAPI: en.ClientAPI, ZtAPIs: en.Claims.Controllers}
	id.ID.Key = "pem:" + string(keyPEM)
	id.ID.Cert = "pem:" + env.Data.Cert
	id.ID.CA = "pem:" + env.Data.CA
	return id, nil
}

func publicKeyMatches(cert *x509.Certificate, key *ecdsa.PrivateKey) bool {
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	return ok && pub.Equal(&key.PublicKey)
}

// writeIdentityFile writes the identity file (opened mode 0600: it holds
// a private key).
func writeIdentityFile(f *os.File, id *identityFile) error {
	data, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("write identity file: %w", err)
	}
	return nil
}
