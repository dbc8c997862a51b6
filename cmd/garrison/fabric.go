package main

import (
	"github.com/spf13/cobra"

	"github.com/garrison-ctrl/garrison/rest"
)

// newFabricCommand is the fabric API's client: routers (edge and transit),
// services and terminators in the fabric's shapes, and the data plane's
// links and circuits (none, as Garrison has no data plane). It uses the
// session 'garrison edge login' saved, or --url/-u/-p.
func newFabricCommand() *cobra.Command {
	fabric := &cobra.Command{Use: "fabric", Short: "Client of the fabric API (routers, services, terminators)"}
	entries := rest.FabricCatalog()
	fabric.AddCommand(newEdgeListCommand(entries), newEdgeCreateCommand(entries), newEdgeUpdateCommand(entries), newEdgeDeleteCommand(entries))
	return fabric
}
