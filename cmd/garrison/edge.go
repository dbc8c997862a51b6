package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/garrison-ctrl/garrison/rest"
	"github.com/garrison-ctrl/garrison/rest/resource"
)

// The edge list, create, update and delete commands are built from the
// server's resource catalog (rest.Catalog): a resource declared there gets
// them without CLI code. Lists take the plural ("config-types"), the others
// the singular ("config-type"), as in the ziti CLI.

// listColumns overrides the table columns of a list; others show id, name
// and a few plain fields.
var listColumns = map[string][]string{
	"identities":     {"id", "name", "typeId", "isAdmin", "disabled", "roleAttributes"},
	"authenticators": {"id", "method", "identity.name", "username", "fingerprint"},
	"api-sessions":   {"id", "identity.name", "ipAddress", "lastActivityAt"},
	"controllers":    {"id", "name", "ctrlAddress", "isOnline", "lastJoinedAt"},
	"configs":        {"id", "name", "configType.name"},
}

// singular names one entity of a collection ("identities" -> "identity").
func singular(name string) string {
	if s, ok := strings.CutSuffix(name, "ies"); ok {
		return s + "y"
	}
	return strings.TrimSuffix(name, "s")
}

// flagName is the kebab-case flag of a field ("configTypeId" -> "config-type-id").
func flagName(field string) string {
	var b strings.Builder
	for i, r := range field {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func columns(e rest.CatalogEntry) []string {
	if c, ok := listColumns[e.Name]; ok {
		return c
	}
	cols := []string{"id"}
	for _, f := range e.Fields {
		switch f.Type {
		case resource.String, resource.Enum, resource.Bool, resource.Int:
			if f.Access != resource.WriteOnly && f.Access != resource.FilterOnly && f.Name != "certPem" && len(cols) < 5 {
				cols = append(cols, f.Name)
			}
		}
	}
	return cols
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

func newEdgeListCommand(entries []rest.CatalogEntry) *cobra.Command {
	list := &cobra.Command{Use: "list", Short: "List entities (OpenZiti filter language, e.g. 'name contains \"web\" limit 50')"}
	for _, e := range entries {
		var f connFlags
		var filter string
		cmd := &cobra.Command{
			Use:   e.Name + " [--filter FILTER]",
			Short: "List " + e.Name,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				c, err := f.client(cmd.Context())
				if err != nil {
					return err
				}
				env, err := c.getList(cmd.Context(), e.Path, filter)
				if err != nil {
					return err
				}
				return printList(cmd, env, columns(e), f.jsonOut)
			},
		}
		f.register(cmd)
		cmd.Flags().StringVar(&filter, "filter", "", "filter, with optional sort by / skip / limit clauses")
		list.AddCommand(cmd)
	}
	return list
}

func printList(cmd *cobra.Command, env *envelope, cols []string, asJSON bool) error {
	out := cmd.OutOrStdout()
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(env.Data)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	for _, item := range env.Data {
		row := make([]string, len(cols))
		for i, col := range cols {
			row[i] = field(item, col)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "results: %d of %d\n", len(env.Data), env.Meta.Pagination.TotalCount)
	return nil
}

// reservedFlags are the connection and command flags a body field's flag
// must not shadow.
var reservedFlags = map[string]bool{"url": true, "username": true, "password": true, "ca": true, "json": true,
	"file": true, "tags": true, "help": true, "admin": true, "jwt-output-file": true, "updb-username": true, "updb-password": true}

// bodyFlags are the flags of a create or update command: one per field a
// body of that kind may carry, plus a file.
type bodyFlags struct {
	fields map[string]*resource.Field // flag name -> field
	values map[string]any             // flag name -> flag value pointer
	tags   string
	file   string
}

func newBodyFlags(cmd *cobra.Command, e rest.CatalogEntry, create bool) *bodyFlags {
	b := &bodyFlags{fields: map[string]*resource.Field{}, values: map[string]any{}}
	for i := range e.Fields {
		f := &e.Fields[i]
		if f.Access == resource.ReadOnly || f.Access == resource.FilterOnly || (f.Access == resource.CreateOnly && !create) {
			continue
		}
		name := f.Name
		if f.Input != "" {
			name = f.Input
		}
		flag := flagName(name)
		if reservedFlags[flag] {
			flag = "set-" + flag // --username is the login's; --set-username the body's
		}
		usage := f.Type.String()
		if len(f.Values) > 0 {
			usage += ": " + strings.Join(f.Values, ", ")
		}
		if create && f.Required&resource.OnCreate != 0 {
			usage += " (required)"
		}
		switch f.Type {
		case resource.Bool:
			b.values[flag] = cmd.Flags().Bool(flag, false, usage)
		case resource.Int:
			b.values[flag] = cmd.Flags().Int64(flag, 0, usage)
		case resource.Strings:
			short := ""
			if name == "roleAttributes" {
				short = "a"
			}
			b.values[flag] = cmd.Flags().StringSliceP(flag, short, nil, usage+", comma-separated")
		case resource.Object, resource.TagMap, resource.IntMap, resource.EnumMap, resource.Nested:
			b.values[flag] = cmd.Flags().String(flag, "", usage+" as JSON, or @FILE (JSON or YAML)")
		default:
			b.values[flag] = cmd.Flags().String(flag, "", usage)
		}
		b.fields[flag] = f
	}
	cmd.Flags().StringVar(&b.tags, "tags", "", "tags as a JSON object, or @FILE")
	cmd.Flags().StringVarP(&b.file, "file", "f", "", "the body as a JSON or YAML file; flags override its fields")
	return b
}

// readJSONValue reads a JSON text, or the JSON or YAML file named @FILE.
func readJSONValue(v string) (any, error) {
	data := []byte(v)
	if path, ok := strings.CutPrefix(v, "@"); ok {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	var out any
	if err := yaml.Unmarshal(data, &out); err != nil { // YAML is a superset of JSON
		return nil, err
	}
	return out, nil
}

// body builds a request body: the file's fields, then the flags given.
func (b *bodyFlags) body(cmd *cobra.Command) (map[string]any, error) {
	body := map[string]any{}
	if b.file != "" {
		v, err := readJSONValue("@" + b.file)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", b.file, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s does not hold an object", b.file)
		}
		body = m
	}
	for flag, f := range b.fields {
		if !cmd.Flags().Changed(flag) {
			continue
		}
		name := f.Name
		if f.Input != "" {
			name = f.Input
		}
		switch v := b.values[flag].(type) {
		case *bool:
			body[name] = *v
		case *int64:
			body[name] = *v
		case *[]string:
			body[name] = *v
		case *string:
			switch f.Type {
			case resource.Object, resource.TagMap, resource.IntMap, resource.EnumMap, resource.Nested:
				parsed, err := readJSONValue(*v)
				if err != nil {
					return nil, fmt.Errorf("--%s: %w", flag, err)
				}
				body[name] = parsed
			default:
				body[name] = *v
			}
		}
	}
	if cmd.Flags().Changed("tags") {
		tags, err := readJSONValue(b.tags)
		if err != nil {
			return nil, fmt.Errorf("--tags: %w", err)
		}
		body["tags"] = tags
	}
	return body, nil
}

func hasField(e rest.CatalogEntry, name string) bool {
	return slices.ContainsFunc(e.Fields, func(f resource.Field) bool { return f.Name == name })
}

// resolveRefs lets references be given by name: a value that names an
// entity of the referenced collection is replaced by its id.
func resolveRefs(ctx context.Context, c *apiClient, e rest.CatalogEntry, body map[string]any) error {
	for _, f := range e.Fields {
		v, ok := body[f.Name].(string)
		if f.Type != resource.Ref || f.RefPath == "" || !ok || v == "" {
			continue
		}
		target := rest.CatalogEntry{Name: f.RefPath, Path: rest.ManagementBase + "/" + f.RefPath, Fields: []resource.Field{{Name: "name"}}}
		id, err := resolveID(ctx, c, target, v)
		if err != nil {
			return fmt.Errorf("--%s: %w", flagName(f.Name), err)
		}
		body[f.Name] = id
	}
	return nil
}

// resolveID turns a name or id into an id.
func resolveID(ctx context.Context, c *apiClient, e rest.CatalogEntry, nameOrID string) (string, error) {
	filter := fmt.Sprintf("id = %s", strconv.Quote(nameOrID))
	if hasField(e, "name") {
		filter = fmt.Sprintf("name = %s or id = %s", strconv.Quote(nameOrID), strconv.Quote(nameOrID))
	}
	env, err := c.getList(ctx, e.Path, filter)
	if err != nil {
		return "", err
	}
	if len(env.Data) != 1 {
		return "", fmt.Errorf("no %s named %q", singular(e.Name), nameOrID)
	}
	return field(env.Data[0], "id"), nil
}

func newEdgeCreateCommand(entries []rest.CatalogEntry) *cobra.Command {
	create := &cobra.Command{Use: "create", Short: "Create entities from flags or a JSON/YAML file"}
	for _, e := range entries {
		if !e.Create {
			continue
		}
		if e.Name == "identities" {
			create.AddCommand(newCreateIdentityCommand(e))
			continue
		}
		var f connFlags
		use := singular(e.Name)
		if hasField(e, "name") {
			use += " [NAME]"
		}
		cmd := &cobra.Command{Use: use + " [--FIELD VALUE ...] [-f FILE]", Short: "Create one " + singular(e.Name), Args: cobra.MaximumNArgs(1)}
		flags := newBodyFlags(cmd, e, true)
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			body, err := flags.body(cmd)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				body["name"] = args[0]
			}
			id, err := createEntity(cmd.Context(), &f, e, body)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "New %s created with id: %s\n", singular(e.Name), id)
			return nil
		}
		f.register(cmd)
		create.AddCommand(cmd)
	}
	return create
}

func createEntity(ctx context.Context, f *connFlags, e rest.CatalogEntry, body map[string]any) (string, error) {
	c, err := f.client(ctx)
	if err != nil {
		return "", err
	}
	if err := resolveRefs(ctx, c, e, body); err != nil {
		return "", err
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, e.Path, body, &created); err != nil {
		return "", err
	}
	return created.ID, nil
}

// newCreateIdentityCommand is the generic create with the ziti CLI's
// conveniences: --admin, a password authenticator, an enrollment JWT file.
func newCreateIdentityCommand(e rest.CatalogEntry) *cobra.Command {
	var f connFlags
	var admin bool
	var username, password, jwtOut string
	cmd := &cobra.Command{
		Use:   "identity NAME [--type User] [--admin] [-a a,b] [--updb-username U --updb-password P] [-o NAME.jwt]",
		Short: "Create an identity, optionally with a password authenticator or an enrollment JWT",
		Args:  cobra.ExactArgs(1),
	}
	flags := newBodyFlags(cmd, e, true)
	cmd.Flags().BoolVar(&admin, "admin", false, "make the identity an admin (same as --is-admin)")
	cmd.Flags().StringVar(&username, "updb-username", "", "add a password authenticator with this username")
	cmd.Flags().StringVar(&password, "updb-password", "", "password of that authenticator")
	cmd.Flags().StringVarP(&jwtOut, "jwt-output-file", "o", "", "create a one-time-token enrollment and write its JWT to this file")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		body, err := flags.body(cmd)
		if err != nil {
			return err
		}
		body["name"] = args[0]
		if _, ok := body["type"]; !ok {
			body["type"] = "User"
		}
		if _, ok := body["isAdmin"]; !ok || cmd.Flags().Changed("admin") {
			body["isAdmin"] = admin
		}
		if jwtOut != "" {
			body["enrollment"] = map[string]any{"ott": true}
		}
		c, err := f.client(cmd.Context())
		if err != nil {
			return err
		}
		var created struct {
			ID string `json:"id"`
		}
		if err := c.do(cmd.Context(), http.MethodPost, e.Path, body, &created); err != nil {
			return err
		}
		if jwtOut != "" {
			if err := saveEnrollmentJWT(cmd.Context(), c, created.ID, jwtOut); err != nil {
				return fmt.Errorf("identity %s created: %w", created.ID, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Enrollment JWT written to %s (enroll with: garrison edge enroll %s)\n", jwtOut, jwtOut)
		}
		if username != "" {
			auth := map[string]any{"method": "updb", "identityId": created.ID, "username": username, "password": password}
			if err := c.do(cmd.Context(), http.MethodPost, rest.ManagementBase+"/authenticators", auth, nil); err != nil {
				return fmt.Errorf("identity %s created, but its authenticator was not: %w", created.ID, err)
			}
		}
		fmt.Fprintf(cmd.OutOrStdout(), "New identity %s created with id: %s\n", args[0], created.ID)
		return nil
	}
	f.register(cmd)
	return cmd
}

func newEdgeUpdateCommand(entries []rest.CatalogEntry) *cobra.Command {
	update := &cobra.Command{Use: "update", Short: "Change the given fields of an entity (PATCH)"}
	for _, e := range entries {
		if !e.Update {
			continue
		}
		var f connFlags
		cmd := &cobra.Command{Use: singular(e.Name) + " NAME-OR-ID [--FIELD VALUE ...] [-f FILE]",
			Short: "Change the given fields of one " + singular(e.Name), Args: cobra.ExactArgs(1)}
		flags := newBodyFlags(cmd, e, false)
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			body, err := flags.body(cmd)
			if err != nil {
				return err
			}
			if len(body) == 0 {
				return fmt.Errorf("nothing to change: give a field flag or --file")
			}
			return onEntity(cmd, &f, e, args[0], http.MethodPatch, body, "updated")
		}
		f.register(cmd)
		update.AddCommand(cmd)
	}
	return update
}

func newEdgeDeleteCommand(entries []rest.CatalogEntry) *cobra.Command {
	del := &cobra.Command{Use: "delete", Short: "Delete entities"}
	for _, e := range entries {
		if !e.Delete {
			continue
		}
		var f connFlags
		cmd := &cobra.Command{Use: singular(e.Name) + " NAME-OR-ID", Short: "Delete one " + singular(e.Name), Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return onEntity(cmd, &f, e, args[0], http.MethodDelete, nil, "deleted")
			}}
		f.register(cmd)
		del.AddCommand(cmd)
	}
	return del
}

// onEntity sends method with body to the entity of e named nameOrID and
// says what was done.
func onEntity(cmd *cobra.Command, f *connFlags, e rest.CatalogEntry, nameOrID, method string, body any, done string) error {
	c, err := f.client(cmd.Context())
	if err != nil {
		return err
	}
	id, err := resolveID(cmd.Context(), c, e, nameOrID)
	if err != nil {
		return err
	}
	if err := c.do(cmd.Context(), method, e.Path+"/"+id, body, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s\n", singular(e.Name), id, done)
	return nil
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
	if err := c.do(ctx, http.MethodGet, rest.ManagementBase+"/identities/"+identityID, nil, &ident); err != nil {
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
