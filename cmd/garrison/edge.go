package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// listView says how `garrison edge list TYPE` shows one entity type.
type listView struct {
	path    string
	columns []string // JSON fields shown as table columns
}

var listViews = map[string]listView{
	"identities":     {"/edge/management/v1/identities", []string{"id", "name", "typeId", "isAdmin", "disabled", "roleAttributes"}},
	"authenticators": {"/edge/management/v1/authenticators", []string{"id", "method", "identity.name", "username", "fingerprint"}},
	"api-sessions":   {"/edge/management/v1/api-sessions", []string{"id", "identity.name", "ipAddress", "lastActivityAt"}},
	"controllers":    {"/edge/management/v1/controllers", []string{"id", "name", "ctrlAddress", "isOnline", "lastJoinedAt"}},
}

// envelope is a list answer with its paging.
type envelope struct {
	Data []map[string]any `json:"data"`
	Meta struct {
		Pagination struct {
			TotalCount int64 `json:"totalCount"`
		} `json:"pagination"`
	} `json:"meta"`
}

// getList fetches one page of a list, keeping the whole envelope.
func (c *apiClient) getList(ctx context.Context, path, filter string) (*envelope, error) {
	q := url.Values{}
	if filter != "" {
		q.Set("filter", filter)
	}
	data, err := c.doRaw(ctx, http.MethodGet, path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	env := &envelope{}
	return env, json.Unmarshal(data, env)
}

func field(m map[string]any, path string) string {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[k]
	}
	switch t := v.(type) {
	case nil:
		return ""
	case []any:
		parts := make([]string, len(t))
		for i, x := range t {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func newEdgeListCommand() *cobra.Command {
	var f connFlags
	var filter string
	types := make([]string, 0, len(listViews))
	for k := range listViews {
		types = append(types, k)
	}
	cmd := &cobra.Command{
		Use:   "list TYPE [--filter FILTER]",
		Short: "List " + strings.Join(types, ", ") + " (OpenZiti filter language, e.g. 'name contains \"web\" limit 50')",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			view, ok := listViews[args[0]]
			if !ok {
				return fmt.Errorf("unknown type %q: one of %s", args[0], strings.Join(types, ", "))
			}
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			env, err := c.getList(cmd.Context(), view.path, filter)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.jsonOut {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(env.Data)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, strings.ToUpper(strings.Join(view.columns, "\t")))
			for _, item := range env.Data {
				row := make([]string, len(view.columns))
				for i, col := range view.columns {
					row[i] = field(item, col)
				}
				fmt.Fprintln(tw, strings.Join(row, "\t"))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "results: %d of %d\n", len(env.Data), env.Meta.Pagination.TotalCount)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&filter, "filter", "", "filter, with optional sort by / skip / limit clauses")
	return cmd
}

// identityID resolves a name or id to an identity id.
func identityID(ctx context.Context, c *apiClient, nameOrID string) (string, error) {
	env, err := c.getList(ctx, "/edge/management/v1/identities", fmt.Sprintf("name = %s or id = %s", strconv.Quote(nameOrID), strconv.Quote(nameOrID)))
	if err != nil {
		return "", err
	}
	if len(env.Data) != 1 {
		return "", fmt.Errorf("no identity named %q", nameOrID)
	}
	return field(env.Data[0], "id"), nil
}

type identityFlags struct {
	typ, roles, username, password string
	jwtOut                         string
	admin                          bool
}

func newEdgeCreateCommand() *cobra.Command {
	var f connFlags
	var i identityFlags
	create := &cobra.Command{Use: "create", Short: "Create entities"}
	cmd := &cobra.Command{
		Use:   "identity NAME [--type User] [--admin] [--role-attributes a,b] [--updb-username U --updb-password P] [-o NAME.jwt]",
		Short: "Create an identity, optionally with a password authenticator or an enrollment JWT",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			body := map[string]any{"name": args[0], "type": i.typ, "isAdmin": i.admin, "roleAttributes": splitList(i.roles)}
			if i.jwtOut != "" {
				body["enrollment"] = map[string]any{"ott": true}
			}
			var created struct {
				ID string `json:"id"`
			}
			if err := c.do(cmd.Context(), http.MethodPost, "/edge/management/v1/identities", body, &created); err != nil {
				return err
			}
			if i.jwtOut != "" {
				if err := saveEnrollmentJWT(cmd.Context(), c, created.ID, i.jwtOut); err != nil {
					return fmt.Errorf("identity %s created: %w", created.ID, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Enrollment JWT written to %s (enroll with: garrison edge enroll %s)\n", i.jwtOut, i.jwtOut)
			}
			if i.username != "" {
				auth := map[string]any{"method": "updb", "identityId": created.ID, "username": i.username, "password": i.password}
				if err := c.do(cmd.Context(), http.MethodPost, "/edge/management/v1/authenticators", auth, nil); err != nil {
					return fmt.Errorf("identity %s created, but its authenticator was not: %w", created.ID, err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "New identity %s created with id: %s\n", args[0], created.ID)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&i.typ, "type", "User", "identity type: User, Device, Service, Router, Default")
	cmd.Flags().BoolVar(&i.admin, "admin", false, "make the identity an admin")
	cmd.Flags().StringVarP(&i.roles, "role-attributes", "a", "", "comma-separated role attributes")
	cmd.Flags().StringVar(&i.username, "updb-username", "", "add a password authenticator with this username")
	cmd.Flags().StringVar(&i.password, "updb-password", "", "password of that authenticator")
	cmd.Flags().StringVarP(&i.jwtOut, "jwt-output-file", "o", "", "create a one-time-token enrollment and write its JWT to this file")
	create.AddCommand(cmd)
	return create
}

func newEdgeUpdateCommand() *cobra.Command {
	var f connFlags
	var name, roles string
	var admin bool
	update := &cobra.Command{Use: "update", Short: "Change entities"}
	cmd := &cobra.Command{
		Use:   "identity NAME-OR-ID [--name NEW] [--role-attributes a,b] [--admin=true|false]",
		Short: "Change the given fields of an identity",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			id, err := identityID(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			body := map[string]any{}
			if cmd.Flags().Changed("name") {
				body["name"] = name
			}
			if cmd.Flags().Changed("role-attributes") {
				body["roleAttributes"] = splitList(roles)
			}
			if cmd.Flags().Changed("admin") {
				body["isAdmin"] = admin
			}
			if len(body) == 0 {
				return fmt.Errorf("nothing to change: give --name, --role-attributes or --admin")
			}
			if err := c.do(cmd.Context(), http.MethodPatch, "/edge/management/v1/identities/"+id, body, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "identity %s updated\n", id)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&name, "name", "", "new name")
	cmd.Flags().StringVarP(&roles, "role-attributes", "a", "", "comma-separated role attributes (replaces them)")
	cmd.Flags().BoolVar(&admin, "admin", false, "admin or not")
	update.AddCommand(cmd)
	return update
}

func newEdgeDeleteCommand() *cobra.Command {
	var f connFlags
	del := &cobra.Command{Use: "delete", Short: "Delete entities"}
	cmd := &cobra.Command{
		Use:   "identity NAME-OR-ID",
		Short: "Delete an identity (its authenticators and sessions go with it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			id, err := identityID(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, "/edge/management/v1/identities/"+id, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "identity %s deleted\n", id)
			return nil
		},
	}
	f.register(cmd)
	del.AddCommand(cmd)
	return del
}

func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// saveEnrollmentJWT writes the identity's ott enrollment JWT to path (mode
// 0600: the token in it is a credential until it is used).
func saveEnrollmentJWT(ctx context.Context, c *apiClient, identityID, path string) error {
	var ident struct {
		Enrollment struct {
			OTT struct {
				JWT string `json:"jwt"`
			} `json:"ott"`
		} `json:"enrollment"`
	}
	if err := c.do(ctx, http.MethodGet, "/edge/management/v1/identities/"+identityID, nil, &ident); err != nil {
		return fmt.Errorf("read enrollment: %w", err)
	}
	if ident.Enrollment.OTT.JWT == "" {
		return fmt.Errorf("the identity has no ott enrollment")
	}
	if err := os.WriteFile(path, []byte(ident.Enrollment.OTT.JWT+"\n"), 0o600); err != nil {
		return fmt.Errorf("write enrollment JWT: %w", err)
	}
	return nil
}
