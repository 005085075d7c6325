// Package version reports the build identity of the sscagent binaries: the release
// version and commit stamped in by the linker, and the Go toolchain that built them.
package version

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the linker: -ldflags "-X github.com/sscagent/sscagent/internal/version.Version=v1.2.3".
var (
	Version = "dev"
	Commit  = ""
	// Stamp is StampPrefix + the version + ";", set by the Makefile beside Version: a
	// build made with -trimpath records no -ldflags in its build information, so this
	// is how a tool reads a binary's version from its bytes (FromBinary).
	Stamp = ""
)

// StampPrefix begins Stamp.
const StampPrefix = "sscagent-version="

// FromBinary finds the version stamped into a binary's bytes.
func FromBinary(b []byte) (string, bool) {
	i := bytes.Index(b, []byte(StampPrefix))
	for i >= 0 {
		rest := b[i+len(StampPrefix):]
		if j := bytes.IndexByte(rest, ';'); j > 0 && j <= 64 && printable(rest[:j]) {
			return string(rest[:j]), true
		}
		k := bytes.Index(rest, []byte(StampPrefix))
		if k < 0 {
			break
		}
		i += len(StampPrefix) + k
	}
	return "", false
}

func printable(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

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
	if v, ok := FromBinary([]byte(Stamp)); ok && in.Version == "dev" {
		in.Version = v // only Stamp was set
	}
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
