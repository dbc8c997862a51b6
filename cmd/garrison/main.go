// Command garrison is the one Garrison binary: it runs a controller node
// (run), a local demo cluster (quickstart), and the operator and client
// CLIs (cluster, pki, edge).
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/garrison-ctrl/garrison/internal/buildinfo"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "garrison",
		Short:         "Garrison: an OpenZiti-compatible controller cluster on Raft",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newRunCommand(),
		newQuickstartCommand(),
		newClusterCommand(),
		newPKICommand(),
		newEdgeCommand(),
		newFabricCommand(),
		newBackupCommand(),
		newRestoreCommand(),
		newSpecCoverageCommand(),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Run: func(cmd *cobra.Command, _ []string) {
				fmt.Fprintf(cmd.OutOrStdout(), "garrison %s (revision %s, built %s, %s)\n",
					buildinfo.Version, buildinfo.Revision(), buildinfo.BuildDate, buildinfo.RuntimeVersion())
			},
		},
	)
	return root
}

// newLogger writes structured logs to stderr at the named level, which
// the returned LevelVar changes while the process runs.
func newLogger(level string, json bool) (*slog.Logger, *slog.LevelVar, error) {
	lv := &slog.LevelVar{}
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if json {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), lv, nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts)), lv, nil
}
