// Package version reports the build identity of the sscagent binaries: the release
// version and commit stamped in by the linker, and the Go toolchain that built them.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the linker: -ldflags "-X github.com/sscagent/sscagent/internal/version.Version=v1.2.3".
var (
	Version = "dev"
	Commit  = ""
)

// Info is the build identity of the running binary.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}

// Get returns the build identity. When the commit was not stamped by the linker it falls
// back to the VCS revision recorded by the Go toolchain, if any.
func Get() Info {
	in := Info{Version: Version, Commit: Commit, Go: runtime.Version()}
	if in.Commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					in.Commit = s.Value
				}
			}
		}
	}
	if in.Commit == "" {
		in.Commit = "unknown"
	}
	return in
}

// String formats the identity on one line, as printed by "sscagent version".
func (i Info) String() string {
	return fmt.Sprintf("sscagent %s (commit %s, %s)", i.Version, i.Commit, i.Go)
}
