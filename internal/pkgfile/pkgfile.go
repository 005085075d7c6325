// Package pkgfile reads what a .deb or .rpm says about itself (name, version,
// architecture) and the sscagent binary it carries, through the package manager's own
// tools (dpkg-deb; rpm, rpm2archive), never from the file's name: `sscagent release
// sign` describes a package with it, and the root helper of package upgrades checks a
// downloaded package's metadata against its signed manifest before installing it.
package pkgfile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sscagent/sscagent/internal/release"
)

// BinaryPath is where the packages install the agent (packaging/linux/nfpm.yaml).
const BinaryPath = "/usr/bin/sscagent"

// maxBinary bounds the binary read out of a package.
const maxBinary = 512 << 20

// Info is a package's own description.
type Info struct {
	Kind string // release.KindDeb or release.KindRPM
	Name string
	// Version is the package manager's version: deb the Version field ("1.3.0-1",
	// with "EPOCH:" when set), rpm VERSION-RELEASE (with "EPOCH:" when set).
	Version string
	// Arch is the package's architecture as a GOARCH (amd64, arm64); "all"/"noarch"
	// stay as they are.
	Arch string
}

// KindOf tells the package kind from a file name's extension.
func KindOf(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".deb":
		return release.KindDeb, nil
	case ".rpm":
		return release.KindRPM, nil
	}
	return "", fmt.Errorf("%s: not a .deb or .rpm", path)
}

// GOARCH maps a package architecture to Go's name: Debian uses Go's names already,
// RPM says x86_64 and aarch64.
func GOARCH(arch string) string {
	switch arch {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "i386", "i686":
		return "386"
	case "armhf", "armv7hl":
		return "arm"
	}
	return arch
}

// Read runs the package tool on path and returns the package's description.
func Read(ctx context.Context, kind, path string) (Info, error) {
	var out []byte
	var err error
	switch kind {
	case release.KindDeb:
		out, err = run(ctx, "dpkg-deb", "--show", "--showformat=${Package}\n${Version}\n${Architecture}\n", "--", path)
	case release.KindRPM:
		out, err = run(ctx, "rpm", "-qp", "--nosignature", "--nodigest", "--queryformat",
			"%{NAME}\n%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n%{ARCH}\n", "--", path)
	default:
		return Info{}, fmt.Errorf("pkgfile: kind %q is not a package", kind)
	}
	if err != nil {
		return Info{}, err
	}
	return parseInfo(kind, string(out))
}

// parseInfo reads the three lines Read's query prints.
func parseInfo(kind, out string) (Info, error) {
	f := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(f) != 3 || f[0] == "" || f[1] == "" || f[2] == "" {
		return Info{}, fmt.Errorf("pkgfile: the %s's metadata is not name, version, architecture: %q", kind, out)
	}
	return Info{Kind: kind, Name: f[0], Version: f[1], Arch: GOARCH(f[2])}, nil
}

// Binary returns the bytes the package installs at BinaryPath.
func Binary(ctx context.Context, kind, path string) ([]byte, error) {
	var args []string
	switch kind {
	case release.KindDeb:
		args = []string{"dpkg-deb", "--fsys-tarfile", "--", path}
	case release.KindRPM:
		args = []string{"rpm2archive", "-"} // the rpm on standard input, a tar.gz out
	default:
		return nil, fmt.Errorf("pkgfile: kind %q is not a package", kind)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if kind == release.KindRPM {
		in, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer in.Close()
		cmd.Stdin = in
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pkgfile: %s: %w", args[0], err)
	}
	var r io.Reader = stdout
	if kind == release.KindRPM {
		zr, err := gzip.NewReader(stdout)
		if err != nil {
			_ = cmd.Wait()
			return nil, fmt.Errorf("pkgfile: %s: %v %s", args[0], err, strings.TrimSpace(stderr.String()))
		}
		r = zr
	}
	b, ferr := FindInTar(r, BinaryPath)
	_, _ = io.Copy(io.Discard, stdout) // let the tool finish writing
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("pkgfile: %s %s: %v %s", args[0], path, err, strings.TrimSpace(stderr.String()))
	}
	return b, ferr
}

// FindInTar returns the contents of the regular file named name ("/usr/bin/x",
// "./usr/bin/x" and "usr/bin/x" are the same name) in the tar stream r.
func FindInTar(r io.Reader, name string) ([]byte, error) {
	want := strings.TrimPrefix(name, "/")
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("pkgfile: the package has no %s", name)
		}
		if err != nil {
			return nil, fmt.Errorf("pkgfile: the package's files: %w", err)
		}
		if strings.TrimPrefix(strings.TrimPrefix(h.Name, "."), "/") != want {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("pkgfile: %s in the package is not a regular file", name)
		}
		if h.Size > maxBinary {
			return nil, fmt.Errorf("pkgfile: %s in the package is %d bytes", name, h.Size)
		}
		return io.ReadAll(io.LimitReader(tr, maxBinary))
	}
}

func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pkgfile: %s: %v %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
