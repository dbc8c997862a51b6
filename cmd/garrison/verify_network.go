package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/garrison-ctrl/garrison/internal/trust"
	"github.com/garrison-ctrl/garrison/pki"
)

func newEdgeVerifyNetworkCommand() *cobra.Command {
	var caFile string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "verify-network URL [--ca root.pem]",
		Short: "Check that URL serves a genuine network before trusting it",
		Long: `Check, from nothing but a controller (or load balancer) URL, that it serves a
consistent, genuine network:

  1. fetch the trust bundle (/.well-known/est/cacerts);
  2. over TLS verified against the bundle's root: fetch /enroll/jwks and keep
     only keys whose certificate chains to that root;
  3. verify every network JWT (/network-jwts) with those keys;
  4. for every key, send a challenge with a fresh nonce through URL and verify
     the signature: the node there has the member holding the key sign it;
  5. ask every controller URL the network JWTs list for its version.

Without --ca the first request cannot verify the server (there is nothing
to verify it with yet): the bundle's root is trusted on first use, and
everything after it is checked against that root. Compare the root
fingerprint printed with the one your administrator gives you (or that
'openssl x509 -fingerprint -sha256 -in ca.pem' shows for the cluster CA), or
pass the root with --ca to verify from the start.

Exits non-zero if any check fails.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			roots, err := readRoots(caFile)
			if err != nil {
				return err
			}
			rep, err := trust.VerifyNetwork(cmd.Context(), args[0], trust.Options{Roots: roots, Timeout: timeout})
			if rep != nil {
				printNetworkReport(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				return err
			}
			if n := rep.Failed(); n > 0 {
				return fmt.Errorf("network NOT verified: %d check(s) failed", n)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "network verified")
			return nil
		},
	}
	cmd.Flags().StringVar(&caFile, "ca", "", "PEM file with the network's root CA; without it the root is trusted on first use")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Second, "timeout of each request")
	return cmd
}

// printNetworkReport writes one line per check, "ok" or "FAIL" first.
func printNetworkReport(w io.Writer, rep *trust.Report) {
	fmt.Fprintf(w, "client API  %s\n", rep.ClientAPI)
	if len(rep.Bundle) > 0 {
		fmt.Fprintf(w, "trust bundle: %d certificates\n", len(rep.Bundle))
	}
	how := "trusted on first use: compare the fingerprint out of band, or pass --ca"
	if rep.Pinned {
		how = "pinned with --ca"
	}
	for _, r := range rep.Roots {
		fmt.Fprintf(w, "  root %q (%s)\n    SHA-256 %s\n", r.Subject.CommonName, how, pki.FingerprintSHA256(r))
	}
	if rep.BundleErr != nil {
		fmt.Fprintf(w, "  FAIL %v\n", rep.BundleErr)
	}
	section(w, "network JWTs:", len(rep.NetworkJWTs))
	for _, c := range rep.NetworkJWTs {
		if c.Err != nil {
			checkLine(w, strconv.Quote(c.Name), c.Err, "")
		} else {
			checkLine(w, strconv.Quote(c.Name), nil, fmt.Sprintf(" signed by key %s, issuer %s", c.KeyID, c.Claims.Issuer))
		}
	}
	section(w, "controllers:", len(rep.Controllers))
	for _, c := range rep.Controllers {
		checkLine(w, c.URL, c.Err, " (answered over verified TLS)")
	}
	section(w, "keys:", len(rep.Keys))
	for _, k := range rep.Keys {
		checkLine(w, k.KeyID, k.Err, fmt.Sprintf(" (%s, %q): challenge signature verified", k.Algorithm, k.Subject))
	}
}

func section(w io.Writer, title string, n int) {
	if n > 0 {
		fmt.Fprintln(w, title)
	}
}

// checkLine prints "ok   what detail" or "FAIL what: err".
func checkLine(w io.Writer, what string, err error, detail string) {
	if err != nil {
		fmt.Fprintf(w, "  FAIL %s: %v\n", what, err)
		return
	}
	fmt.Fprintf(w, "  ok   %s%s\n", what, detail)
}
