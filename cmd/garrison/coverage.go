package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/garrison-ctrl/garrison/rest"
	"github.com/garrison-ctrl/garrison/rest/apispec"
)

// probeToken is the session token the coverage walk sends: it names no
// session, so every route that needs one answers 401 without running, and
// the walk changes nothing.
const probeToken = "spec-coverage-probe"

func newSpecCoverageCommand() *cobra.Command {
	var url, caFile string
	cmd := &cobra.Command{
		Use:   "spec-coverage --url URL [--ca ca.pem]",
		Short: "Check that a running node serves every operation of the three API definitions",
		Long: `Sends one request for every operation of the vendored Edge Client,
Edge Management and Fabric API definitions to URL (a node or the load
balancer), with a session token that names no session and path parameters
that name nothing, and reports every operation no route serves (the
router's own 404 or 405, marked with the ` + rest.UnroutedHeader + ` header).
Operations that need a session answer 401 without running; those without
one (logins, enrollment) are refused for their empty bodies. Exits 1 if
any operation is not routed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(url, caFile)
			if err != nil {
				return err
			}
			defer c.close()
			out := cmd.OutOrStdout()
			missing := 0
			for _, load := range []func() (*apispec.Spec, error){apispec.Client, apispec.Management, apispec.Fabric} {
				spec, err := load()
				if err != nil {
					return err
				}
				ops := spec.Operations()
				var unrouted []string
				for _, op := range ops {
					ok, err := routed(cmd.Context(), c, op.Method, spec.BasePath+op.Path)
					if err != nil {
						return err
					}
					if !ok {
						unrouted = append(unrouted, op.Method+" "+spec.BasePath+op.Path+" ("+op.ID+")")
					}
				}
				fmt.Fprintf(out, "%s: %d of %d operations routed\n", spec.BasePath, len(ops)-len(unrouted), len(ops))
				for _, u := range unrouted {
					fmt.Fprintln(out, "  not routed:", u)
				}
				missing += len(unrouted)
			}
			if missing > 0 {
				return fmt.Errorf("%d operations are not routed", missing)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "node or load balancer URL")
	cmd.Flags().StringVar(&caFile, "ca", "", "CA bundle to verify the node's certificate")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

// routed sends one probe of an operation and reports whether a route
// answered it.
func routed(ctx context.Context, c *apiClient, method, template string) (bool, error) {
	path := template
	for strings.Contains(path, "{") {
		i := strings.Index(path, "{")
		j := strings.Index(path[i:], "}")
		if j < 0 {
			break
		}
		path = path[:i] + "probe-" + path[i+1:i+j] + path[i+j+1:]
	}
	var body io.Reader = http.NoBody
	if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("zt-session", probeToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", method, path, err)
	}
	resp.Body.Close()
	return resp.Header.Get(rest.UnroutedHeader) == "", nil
}
