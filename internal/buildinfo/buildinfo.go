// Package buildinfo reports what binary is running. Version and BuildDate
// are set at link time (-ldflags "-X ...") by the Makefile; the revision
// comes from the Go toolchain's embedded VCS information.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version and BuildDate are process configuration set by the linker.
var (
	Version   = "v0.1.0-dev"
	BuildDate = "unknown"
)

// Revision returns the VCS revision the binary was built from, or "unknown".
func Revision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
	}
	return "unknown"
}

// RuntimeVersion is the Go version the binary was built with.
func RuntimeVersion() string { return runtime.Version() }
