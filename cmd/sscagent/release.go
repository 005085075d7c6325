package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/pkgfile"
	"github.com/sscagent/sscagent/internal/release"
	"github.com/sscagent/sscagent/internal/signing"
	ver "github.com/sscagent/sscagent/internal/version"
)

const releaseUsage = `release keygen|sign|verify [flags]

  release keygen --out DIR [--alg sm2|ed25519]      a release key: release.key.pem (0600) and release.pub.pem
  release sign   --key FILE --artifact FILE [--version V]
                                                    write FILE.manifest and FILE.manifest.sig; FILE is
                                                    the sscagent binary, or a .deb or .rpm of make packages
  release verify --pub FILE --artifact FILE         check an artifact as a terminal does

Terminals pin release.pub.pem in upgrade.releaseKeys; 'fleet upgrade' sends what
'release sign' wrote (docs/deploy.md, "Software updates from the fleet").`

func init() {
	prog.Register("release", "release keys and signed artifacts for software updates: release keygen|sign|verify", cmdRelease)
}

func cmdRelease(args []string, out, errOut io.Writer) int {
	sub, rc := prog.Subcommand(args, releaseUsage, errOut, "keygen", "sign", "verify")
	if rc >= 0 {
		return rc
	}
	return map[string]func([]string, io.Writer, io.Writer) int{
		"keygen": releaseKeygen, "sign": releaseSign, "verify": releaseVerify,
	}[sub](args[1:], out, errOut)
}

func releaseKeygen(args []string, out, errOut io.Writer) int {
	fs := newFlags("release keygen", "release keygen --out DIR [--alg sm2|ed25519]", errOut)
	dir := fs.String("out", "", "directory for release.key.pem and release.pub.pem (created 0700 if missing)")
	algName := fs.String("alg", "sm2", "sm2 (SM3 with the default signer id) or ed25519")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	alg, err := signing.ParseAlgorithm(*algName)
	if *dir == "" || err != nil {
		fmt.Fprintln(errOut, "--out DIR is required; --alg is sm2 or ed25519")
		fs.Usage()
		return cli.ExitUsage
	}
	keyPath, pubPath := keyPairPaths(*dir, "release")
	k, pubPEM, rc := writeSigningKey("release keygen", *dir, "release", alg, errOut)
	if rc != cli.ExitOK {
		return rc
	}
	fmt.Fprintf(errOut, "wrote %s (0600: keep it off the terminals, on the release machine) and %s\n", keyPath, pubPath)
	fmt.Fprintln(errOut, "pin the public key on every terminal: upgrade.releaseKeys: [release.pub.pem]")
	fmt.Fprintf(out, "%skey id: %s\n", pubPEM, k.Public())
	return cli.ExitOK
}

// stamped reads the platform and the linker-stamped version of a Go binary.
func stamped(path string) (goos, goarch, version string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", "", err
	}
	bi, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		return "", "", "", fmt.Errorf("%s: not a Go program: %w", path, err)
	}
	return stampedInfo(path, bi, b)
}

// stampedPackage reads the platform and stamped version of the sscagent binary a
// package installs.
func stampedPackage(kind, path string) (goos, goarch, version string, err error) {
	b, err := pkgfile.Binary(context.Background(), kind, path)
	if err != nil {
		return "", "", "", err
	}
	name := path + ":" + pkgfile.BinaryPath
	bi, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		return "", "", "", fmt.Errorf("%s: not a Go program: %w", name, err)
	}
	return stampedInfo(name, bi, b)
}

// stampedInfo reads the platform from bi and the version from its -ldflags or, in a
// -trimpath build (which records none), from the version.Stamp in the binary's bytes.
func stampedInfo(path string, bi *buildinfo.BuildInfo, bin []byte) (goos, goarch, version string, err error) {
	const stamp = "/internal/version.Version="
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		case "-ldflags":
			for _, f := range strings.Fields(s.Value) {
				if i := strings.Index(f, stamp); i >= 0 {
					version = strings.Trim(f[i+len(stamp):], `'"`)
				}
			}
		}
	}
	if goos == "" || goarch == "" {
		return "", "", "", fmt.Errorf("%s: the build records no GOOS/GOARCH", path)
	}
	if version == "" {
		version, _ = ver.FromBinary(bin)
	}
	return goos, goarch, version, nil
}

func releaseSign(args []string, out, errOut io.Writer) int {
	fs := newFlags("release sign", "release sign --key FILE --artifact FILE [--version V]", errOut)
	keyFile := fs.String("key", "", "release private key (PEM, mode 0600; release keygen writes one)")
	artifact := fs.String("artifact", "", "the sscagent binary, or its .deb or .rpm (make packages), to sign")
	ver := fs.String("version", "", "its version (default: the one stamped in by the linker; they must agree)")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	if *keyFile == "" || *artifact == "" {
		fmt.Fprintln(errOut, "--key and --artifact are required")
		fs.Usage()
		return cli.ExitUsage
	}
	fail := func(err error) int { fmt.Fprintf(errOut, "sscagent release sign: %v\n", err); return cli.ExitFail }
	pem, err := config.SecretFile(*keyFile).Read()
	if err != nil {
		return fail(err)
	}
	key, err := signing.ParsePrivateKey(pem)
	if err != nil {
		return fail(err)
	}
	kind, info := release.KindBinary, pkgfile.Info{}
	var goos, goarch, v string
	if k, kerr := pkgfile.KindOf(*artifact); kerr == nil {
		kind = k
		if info, err = pkgfile.Read(context.Background(), kind, *artifact); err != nil {
			return fail(err)
		}
		if info.Name != "sscagent" {
			return fail(fmt.Errorf("%s is the package %q, not sscagent", *artifact, info.Name))
		}
		goos, goarch, v, err = stampedPackage(kind, *artifact)
		if err == nil && goarch != info.Arch {
			err = fmt.Errorf("%s is a %s package, but its binary is built for %s", *artifact, info.Arch, goarch)
		}
	} else {
		goos, goarch, v, err = stamped(*artifact)
	}
	if err != nil {
		return fail(err)
	}
	switch {
	case *ver == "" && v == "":
		return fail(fmt.Errorf("%s carries no readable version stamp (a -trimpath build, as make's, does not record its -ldflags): "+
			"give --version V, the VERSION it was built with", *artifact))
	case *ver != "" && v != "" && *ver != v:
		return fail(fmt.Errorf("--version %s, but %s is stamped %s: a terminal would refuse it after its trial", *ver, *artifact, v))
	case *ver == "":
		*ver = v
	}
	f, err := os.Open(*artifact)
	if err != nil {
		return fail(err)
	}
	var m release.Manifest
	if kind == release.KindBinary {
		m, err = release.Describe(f, *ver, goos, goarch)
	} else {
		m, err = release.DescribePackage(f, kind, *ver, info.Version, goarch)
	}
	f.Close()
	if err != nil {
		return fail(err)
	}
	s, err := release.Sign(key, m)
	if err == nil {
		err = release.WriteFiles(*artifact, s)
	}
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(errOut, "wrote %s and %s\n", release.ManifestPath(*artifact), release.SignaturePath(*artifact))
	fmt.Fprintf(out, "%s", s.Manifest)
	return cli.ExitOK
}

func releaseVerify(args []string, out, errOut io.Writer) int {
	fs := newFlags("release verify", "release verify --pub FILE [--pub FILE] --artifact FILE", errOut)
	var pubs listFlag
	fs.Var(&pubs, "pub", "pinned release public key (PEM); repeat for a rotation")
	artifact := fs.String("artifact", "", "the artifact beside its .manifest and .manifest.sig")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	if len(pubs) == 0 || *artifact == "" {
		fmt.Fprintln(errOut, "--pub and --artifact are required")
		fs.Usage()
		return cli.ExitUsage
	}
	fail := func(err error) int { fmt.Fprintf(errOut, "sscagent release verify: %v\n", err); return cli.ExitFail }
	var ring signing.Keyring
	for _, p := range pubs {
		b, err := os.ReadFile(p)
		if err != nil {
			return fail(err)
		}
		k, err := signing.ParsePublicKey(b)
		if err != nil {
			return fail(err)
		}
		ring = append(ring, k)
	}
	s, err := release.ReadFiles(*artifact)
	if err != nil {
		return fail(err)
	}
	m, err := release.Verify(ring, s)
	if err != nil {
		return fail(err)
	}
	f, err := os.Open(*artifact)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	d := release.NewDigest()
	if _, err := io.Copy(d, f); err != nil {
		return fail(err)
	}
	if err := d.Check(m); err != nil {
		return fail(err)
	}
	what := "sscagent " + m.Version
	if m.Package != "" {
		what = fmt.Sprintf("sscagent %s (%s %s)", m.Version, m.Kind, m.Package)
	}
	fmt.Fprintf(out, "%s: %s for %s, %d bytes, signed by %s: OK\n", *artifact, what, m.Platform(), m.Size, m.KeyID)
	return cli.ExitOK
}
