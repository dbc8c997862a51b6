// Package specs embeds the OpenZiti API definitions Garrison implements
// (Swagger 2.0, Apache-2.0; see README.md and LICENSE in this folder). The
// test suite validates responses against them and the /specs endpoints
// serve them, so both always use the same copy, the one in the binary.
package specs

import (
	"embed"
	"fmt"
)

//go:embed client.yml management.yml fabric.yml
var files embed.FS

// Definition is one embedded API definition.
type Definition struct {
	// ID is the name OpenZiti's /specs endpoint lists it under.
	ID string
	// File is the file name inside this package.
	File string
	// BasePath is the API's base path.
	BasePath string
}

// Definitions lists the embedded definitions.
func Definitions() []Definition {
	return []Definition{
		{ID: "edge-client", File: "client.yml", BasePath: "/edge/client/v1"},
		{ID: "edge-management", File: "management.yml", BasePath: "/edge/management/v1"},
		{ID: "fabric", File: "fabric.yml", BasePath: "/fabric/v1"},
	}
}

// Read returns the YAML text of an embedded definition file.
func Read(file string) ([]byte, error) {
	b, err := files.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("specs: %w", err)
	}
	return b, nil
}
