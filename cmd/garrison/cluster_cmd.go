package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/garrison-ctrl/garrison/cluster"
	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/rest"
)

func newClusterCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Form and manage the controller cluster"}
	cmd.AddCommand(newClusterInitCommand(), newClusterAddCommand(), newClusterRemoveCommand(),
		newClusterListCommand(), newClusterTransferCommand(), newClusterRecoverCommand(), newClusterLogLevelCommand())
	return cmd
}

// agentCall sends a request to a node's local agent socket. The agent
// speaks the same envelopes as the REST API, over plain HTTP on the socket.
func agentCall(ctx context.Context, socket, method, path string, body, out any) error {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	c := &apiClient{base: "http://agent", http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
	err := c.do(ctx, method, path, body, out)
	var ae *apiError
	if err != nil && !errors.As(err, &ae) {
		return fmt.Errorf("node agent at %s: %w (is the node running?)", socket, err)
	}
	return err
}

func newClusterLogLevelCommand() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "log-level --config node.yml [debug|info|warn|error]",
		Short: "Show or change a running node's log level, without a restart",
		Long: `Shows the log level of the running node that node.yml describes or, given a
level, changes it at once, until the node restarts (node.yml's logLevel is
the level it starts at). It talks to the node's local agent socket, so run it
on the node's host as a user who can read the node's data directory.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadNodeConfig(configPath)
			if err != nil {
				return err
			}
			var out rest.LogLevel
			method, body := http.MethodGet, any(nil)
			if len(args) == 1 {
				method, body = http.MethodPut, rest.LogLevel{Level: args[0]}
			}
			if err := agentCall(cmd.Context(), cfg.agentSocket(), method, rest.AgentLogLevelPath, body, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: log level %s\n", cfg.Name, out.Level)
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "the node's configuration file")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func newClusterInitCommand() *cobra.Command {
	var configPath, username, password, name string
	cmd := &cobra.Command{
		Use:   "init --config node.yml -u USER -p PASSWORD",
		Short: "Make a running, empty node a one-member cluster and create the default admin",
		Long: `Bootstraps the cluster on a running node that has no cluster state yet and
creates the default admin identity with a password authenticator. It talks to
the node's local agent socket in its data directory, so run it on the node's
host as a user who can read that directory. Add more nodes with
'garrison cluster add'.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadNodeConfig(configPath)
			if err != nil {
				return err
			}
			if password == "" {
				password = os.Getenv("GARRISON_PASSWORD")
			}
			req := rest.InitRequest{AdminUsername: username, AdminPassword: password, AdminName: name}
			var res rest.InitResult
			if err := agentCall(cmd.Context(), cfg.agentSocket(), http.MethodPost, rest.AgentInitPath, req, &res); err != nil {
				return err
			}
			if !res.AdminCreated {
				fmt.Fprintf(cmd.OutOrStdout(), "cluster initialised on %s with the restored state and its admin\n", cfg.Name)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cluster initialised on %s; admin %q created\n", cfg.Name, username)
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "the node's configuration file")
	cmd.Flags().StringVarP(&username, "username", "u", "admin", "default admin's username")
	cmd.Flags().StringVarP(&password, "password", "p", "", "default admin's password (or $GARRISON_PASSWORD)")
	cmd.Flags().StringVar(&name, "name", "admin", "default admin's identity name")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func newClusterAddCommand() *cobra.Command {
	var f connFlags
	var nonVoter bool
	cmd := &cobra.Command{
		Use:   "add CLUSTER-ADDRESS",
		Short: "Add a running node to the cluster (the leader dials it and learns its id from its certificate)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			addr := args[0]
			if !strings.HasPrefix(addr, "tls:") {
				addr = "tls:" + addr
			}
			err = c.do(cmd.Context(), http.MethodPost, "/fabric/v1/cluster/add-member", map[string]any{"address": addr, "isVoter": !nonVoter}, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s\n", addr)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&nonVoter, "non-voter", false, "add as a non-voting member")
	return cmd
}

func newClusterRemoveCommand() *cobra.Command {
	var f connFlags
	cmd := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a member from the cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodPost, "/fabric/v1/cluster/remove-member", map[string]string{"id": args[0]}, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newClusterTransferCommand() *cobra.Command {
	var f connFlags
	cmd := &cobra.Command{
		Use:   "transfer-leadership [ID]",
		Short: "Hand leadership to ID, or to any other voter",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			body := map[string]string{}
			if len(args) == 1 {
				body["newLeaderId"] = args[0]
			}
			if err := c.do(cmd.Context(), http.MethodPost, "/fabric/v1/cluster/transfer-leadership", body, nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "leadership transferred")
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

type memberRow struct {
	ID           string `json:"id"`
	Address      string `json:"address"`
	Voter        bool   `json:"voter"`
	Leader       bool   `json:"leader"`
	Version      string `json:"version"`
	Connected    bool   `json:"connected"`
	LastContact  string `json:"lastContact"`
	AppliedIndex uint64 `json:"appliedIndex"`
}

func newClusterListCommand() *cobra.Command {
	var f connFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the members with their suffrage, leadership, last contact and applied index",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			var rows []memberRow
			if err := c.do(cmd.Context(), http.MethodGet, "/fabric/v1/cluster/list-members", nil, &rows); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.jsonOut {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tADDRESS\tSUFFRAGE\tLEADER\tCONNECTED\tLAST CONTACT\tAPPLIED\tVERSION")
			for _, r := range rows {
				suffrage := "voter"
				if !r.Voter {
					suffrage = "non-voter"
				}
				last := r.LastContact
				if t, err := time.Parse(time.RFC3339Nano, r.LastContact); err == nil {
					if t.Year() < 2000 {
						last = "never"
					} else {
						last = time.Since(t).Round(time.Millisecond).String() + " ago"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%s\t%d\t%s\n", r.ID, r.Address, suffrage, r.Leader, r.Connected, last, r.AppliedIndex, r.Version)
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	return cmd
}

func newClusterRecoverCommand() *cobra.Command {
	var configPath string
	var members []string
	cmd := &cobra.Command{
		Use:   "recover --config node.yml [--member ID=HOST:PORT ...]",
		Short: "Force a new membership on a STOPPED node of a cluster that lost quorum",
		Long: `Rewrites the stored Raft configuration of a stopped node. Use it only when a
majority of members is permanently lost. Without --member the node becomes a
one-member cluster on its own; start it, then add fresh nodes back with
'garrison cluster add'. If you name several members, run recover with the
same list on each of them, and on no other node.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadNodeConfig(configPath)
			if err != nil {
				return err
			}
			var servers []cluster.RecoverServer
			for _, m := range members {
				id, addr, ok := strings.Cut(m, "=")
				if !ok || id == "" || addr == "" {
					return fmt.Errorf("--member %q: want ID=HOST:PORT", m)
				}
				servers = append(servers, cluster.RecoverServer{ID: id, Address: addr, Voter: true})
			}
			if _, err := os.Stat(cfg.agentSocket()); err == nil {
				if agentCall(cmd.Context(), cfg.agentSocket(), http.MethodGet, rest.AgentStatusPath, nil, nil) == nil {
					return fmt.Errorf("node %s is running: stop it before recovering", cfg.Name)
				}
			}
			log, _, err := newLogger("warn", false)
			if err != nil {
				return err
			}
			store, err := fsm.Open(cfg.DataDir+"/state.db", log)
			if err != nil {
				return err
			}
			defer store.Close()
			err = cluster.Recover(cluster.Config{
				ID: cfg.Name, DataDir: cfg.DataDir, BindAddress: cfg.ClusterAddress,
				AdvertiseAddress: cfg.AdvertiseCluster, Store: store, Log: log,
			}, servers)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recovered %s; start it and add the other members back\n", cfg.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "the node's configuration file")
	cmd.Flags().StringArrayVar(&members, "member", nil, "member of the new configuration, ID=HOST:PORT (repeatable)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
