package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/garrison-ctrl/garrison/rest"
)

// apiClient is the CLI's client of a node's REST APIs.
type apiClient struct {
	base  string // https://host:port, no path
	http  *http.Client
	token string
}

// apiError is the error envelope as the CLI reports it.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Cause   *struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"cause"`
	CauseMessage string `json:"causeMessage"`
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
	if e.Cause != nil && e.Cause.Field != "" {
		msg += fmt.Sprintf(" [%s: %s]", e.Cause.Field, e.Cause.Reason)
	} else if e.CauseMessage != "" {
		msg += " [" + e.CauseMessage + "]"
	}
	return msg
}

func newAPIClient(base, caFile string) (*apiClient, error) {
	base = strings.TrimRight(base, "/")
	if !strings.HasPrefix(base, "https://") {
		base = "https://" + base
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("no certificates in %s", caFile)
		}
		tc.RootCAs = pool
	}
	tr := &http.Transport{TLSClientConfig: tc, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	return &apiClient{base: base, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}, nil
}

// close drops the client's idle connections.
func (c *apiClient) close() { c.http.CloseIdleConnections() }

// do sends a JSON request and decodes the envelope's data into out.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	data, err := c.doRaw(ctx, method, path, body)
	if err != nil || out == nil {
		return err
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("decode answer from %s: %w", path, err)
	}
	return json.Unmarshal(env.Data, out)
}

// doRaw sends a JSON request and returns the whole answer of a success,
// or the error envelope as an *apiError.
func (c *apiClient) doRaw(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("zt-session", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var env struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(data, &env) != nil || env.Error.Code == "" {
			return nil, fmt.Errorf("HTTP %d from %s: %s", resp.StatusCode, path, strings.TrimSpace(string(data)))
		}
		env.Error.Status = resp.StatusCode
		return nil, &env.Error
	}
	return data, nil
}

// login authenticates with a password and keeps the session token.
func (c *apiClient) login(ctx context.Context, username, password string) error {
	var sess struct {
		Token string `json:"token"`
	}
	err := c.do(ctx, http.MethodPost, "/edge/management/v1/authenticate?method=password",
		map[string]string{"username": username, "password": password}, &sess)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	c.token = sess.Token
	return nil
}

// savedLogin is what `garrison edge login` keeps in the user's config dir.
type savedLogin struct {
	URL    string `json:"url"`
	Token  string `json:"token"`
	CAFile string `json:"caFile,omitempty"`
}

func loginFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find user config dir: %w", err)
	}
	return filepath.Join(dir, "garrison", "login.json"), nil
}

func loadLogin() (*savedLogin, error) {
	path, err := loginFile()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	l := &savedLogin{}
	if err := json.Unmarshal(data, l); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return l, nil
}

func saveLogin(l *savedLogin) (string, error) {
	path, err := loginFile()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	data, _ := json.MarshalIndent(l, "", "  ")
	return path, os.WriteFile(path, data, 0o600)
}

// connFlags are the connection flags of every command that talks to a node.
type connFlags struct {
	url, username, password, caFile string
	jsonOut                         bool
}

func (f *connFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "url", "", "node or load balancer URL (default: the saved login's)")
	cmd.Flags().StringVarP(&f.username, "username", "u", "", "admin username (default: use the saved login)")
	cmd.Flags().StringVarP(&f.password, "password", "p", "", "admin password (or $GARRISON_PASSWORD)")
	cmd.Flags().StringVar(&f.caFile, "ca", "", "CA bundle to verify the node's certificate")
	cmd.Flags().BoolVarP(&f.jsonOut, "json", "j", false, "print JSON")
}

// client returns a logged-in client: fresh credentials if given, else the
// saved login.
func (f *connFlags) client(ctx context.Context) (*apiClient, error) {
	if f.password == "" {
		f.password = os.Getenv("GARRISON_PASSWORD")
	}
	saved, _ := loadLogin()
	url, ca := f.url, f.caFile
	if saved != nil && (url == "" || url == saved.URL) {
		if url == "" {
			url = saved.URL
		}
		if ca == "" {
			ca = saved.CAFile
		}
	}
	if url == "" {
		return nil, errors.New("no --url given and no saved login (garrison edge login URL -u USER -p PW)")
	}
	c, err := newAPIClient(url, ca)
	if err != nil {
		return nil, err
	}
	if f.username != "" {
		return c, c.login(ctx, f.username, f.password)
	}
	if saved == nil || strings.TrimRight(saved.URL, "/") != strings.TrimRight(url, "/") {
		return nil, fmt.Errorf("no saved login for %s: pass -u and -p", url)
	}
	c.token = saved.Token
	return c, nil
}

func newEdgeCommand() *cobra.Command {
	edge := &cobra.Command{Use: "edge", Short: "Client of the Edge APIs"}
	var f connFlags
	login := &cobra.Command{
		Use:   "login URL -u USER -p PASSWORD [--ca ca.pem]",
		Short: "Log in and save the session for later commands",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.url = args[0]
			if f.username == "" {
				return errors.New("--username is required")
			}
			if f.caFile != "" {
				abs, err := filepath.Abs(f.caFile)
				if err != nil {
					return err
				}
				f.caFile = abs
			}
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			path, err := saveLogin(&savedLogin{URL: c.base, Token: c.token, CAFile: f.caFile})
			if err != nil {
				return fmt.Errorf("save login: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged in to %s; session saved in %s\n", c.base, path)
			return nil
		},
	}
	f.register(login)
	entries := rest.Catalog()
	edge.AddCommand(login, newEdgeListCommand(entries), newEdgeCreateCommand(entries), newEdgeUpdateCommand(entries), newEdgeDeleteCommand(entries),
		newEdgeVerifyNetworkCommand(),
		newEdgeEnrollCommand())
	return edge
}
