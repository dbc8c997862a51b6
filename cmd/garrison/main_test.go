package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command builds (duplicate flags panic at construction) and answers
// --help.
func TestEveryCommandBuildsAndHasHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	count := 0
	walk = func(c *cobra.Command) {
		count++
		root := newRootCommand()
		path := strings.Fields(c.CommandPath())[1:]
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append(path, "--help"))
		if err := root.Execute(); err != nil {
			t.Errorf("%s --help: %v", c.CommandPath(), err)
		}
		if !strings.Contains(out.String(), "Usage:") {
			t.Errorf("%s --help printed no usage:\n%s", c.CommandPath(), out.String())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
	if count < 20 {
		t.Fatalf("only %d commands found", count)
	}
}

func TestFlagNames(t *testing.T) {
	for in, want := range map[string]string{"configTypeId": "config-type-id", "name": "name", "isAdmin": "is-admin", "externalIdClaim": "external-id-claim"} {
		if got := flagName(in); got != want {
			t.Errorf("flagName(%s) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{"identities": "identity", "config-types": "config-type", "cas": "ca", "edge-routers": "edge-router"} {
		if got := singular(in); got != want {
			t.Errorf("singular(%s) = %s, want %s", in, got, want)
		}
	}
}
