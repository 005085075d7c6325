// Package release is the signed release manifest: what a terminal checks before it
// runs a program it downloaded. A manifest names one artifact (the sscagent binary for
// one GOOS/GOARCH, or the .deb or .rpm that installs it) by version, platform, size,
// SHA-256 and SM3; a release key
// (internal/signing) signs the manifest's exact bytes, and a terminal accepts the
// artifact only when the signature verifies against a key it pins and every digest of
// the bytes it received matches. The files are FILE.manifest (JSON) and
// FILE.manifest.sig (the detached signature, which OpenSSL checks); docs/deploy.md
// and docs/mgmt-protocol.md describe the format.
package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/emmansun/gmsm/sm3"

	"github.com/sscagent/sscagent/internal/signing"
)

// FormatVersion is the manifest format this build writes and reads.
const FormatVersion = 1

// Kinds of artifact.
const (
	KindBinary = "binary" // the sscagent executable itself
	KindDeb    = "deb"    // the Debian package (packaging/linux/nfpm.yaml)
	KindRPM    = "rpm"    // the RPM package
)

// IsPackage reports whether kind is installed by a package manager (deb, rpm).
func IsPackage(kind string) bool { return kind == KindDeb || kind == KindRPM }

// MaxManifest bounds a manifest's size: anything larger is not one.
const MaxManifest = 4096

// Manifest describes one artifact. Its JSON encoding (Marshal) is what the release
// key signs.
type Manifest struct {
	V       int    `json:"v"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Version string `json:"version"`
	// Package is a package's own version as its package manager reads it (deb
	// "1.3.0-1", rpm "1.3.0-1"): the root helper installs a package only when its
	// metadata says this. Empty for a binary.
	Package string `json:"package,omitempty"`
	GOOS    string `json:"goos"`
	GOARCH  string `json:"goarch"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	SM3     string `json:"sm3"`
	// KeyID names the release key that signs the manifest (signing.PublicKey.ID), so a
	// terminal that pins two keys knows which one to try. It is signed with the rest.
	KeyID string `json:"keyId"`
}

// Errors a terminal tells apart.
var (
	ErrManifest = errors.New("bad release manifest")
	ErrDigest   = errors.New("artifact does not match its manifest")
)

var (
	versionRE  = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_~-]{0,63}$`)
	platformRE = regexp.MustCompile(`^[a-z0-9]{1,16}$`)
	hexRE      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	keyIDRE    = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

// Validate checks every field's form.
func (m Manifest) Validate() error {
	var p []string
	if m.V != FormatVersion {
		p = append(p, fmt.Sprintf("v %d (this build reads %d)", m.V, FormatVersion))
	}
	if m.Name != "sscagent" {
		p = append(p, fmt.Sprintf("name %q (want sscagent)", m.Name))
	}
	switch {
	case m.Kind != KindBinary && !IsPackage(m.Kind):
		p = append(p, fmt.Sprintf("kind %q (want %s, %s or %s)", m.Kind, KindBinary, KindDeb, KindRPM))
	case m.Kind == KindBinary && m.Package != "":
		p = append(p, "package is set for a binary")
	case IsPackage(m.Kind) && !versionRE.MatchString(m.Package):
		p = append(p, fmt.Sprintf("package %q: a package's version (1-64 letters, digits, . + _ ~ -)", m.Package))
	case IsPackage(m.Kind) && m.GOOS != "linux":
		p = append(p, fmt.Sprintf("goos %q: a %s is for linux", m.GOOS, m.Kind))
	}
	if !versionRE.MatchString(m.Version) {
		p = append(p, fmt.Sprintf("version %q (1-64 letters, digits, . + _ ~ -)", m.Version))
	}
	if !platformRE.MatchString(m.GOOS) || !platformRE.MatchString(m.GOARCH) {
		p = append(p, fmt.Sprintf("platform %q/%q", m.GOOS, m.GOARCH))
	}
	if m.Size <= 0 {
		p = append(p, fmt.Sprintf("size %d", m.Size))
	}
	if !hexRE.MatchString(m.SHA256) {
		p = append(p, "sha256 is not 64 lower-case hex digits")
	}
	if !hexRE.MatchString(m.SM3) {
		p = append(p, "sm3 is not 64 lower-case hex digits")
	}
	if !keyIDRE.MatchString(m.KeyID) {
		p = append(p, "keyId is not 16 lower-case hex digits")
	}
	if len(p) > 0 {
		return fmt.Errorf("%w: %s", ErrManifest, strings.Join(p, "; "))
	}
	return nil
}

// Platform returns "goos/goarch".
func (m Manifest) Platform() string { return m.GOOS + "/" + m.GOARCH }

// Marshal encodes m as the bytes that are signed.
func (m Manifest) Marshal() []byte {
	b, _ := json.Marshal(m) // strings and integers only
	return append(b, '\n')
}

// Parse reads a manifest strictly: one JSON object, known fields only, every field
// valid. It does not check a signature (Verify does).
func Parse(b []byte) (Manifest, error) {
	var m Manifest
	if len(b) > MaxManifest {
		return m, fmt.Errorf("%w: %d bytes (at most %d)", ErrManifest, len(b), MaxManifest)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if dec.More() {
		return Manifest{}, fmt.Errorf("%w: data after the object", ErrManifest)
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Signed is a manifest's exact bytes and the release key's detached signature over them.
type Signed struct {
	Manifest  []byte `json:"manifest"`
	Signature []byte `json:"signature"`
}

// Sign sets m's KeyID to key's and signs m's encoding with key.
func Sign(key *signing.PrivateKey, m Manifest) (Signed, error) {
	m.KeyID = key.Public().ID()
	if err := m.Validate(); err != nil {
		return Signed{}, err
	}
	b := m.Marshal()
	sig, err := key.Sign(b)
	if err != nil {
		return Signed{}, err
	}
	return Signed{Manifest: b, Signature: sig}, nil
}

// Verify parses the manifest and checks its signature against the pinned keys. The
// error wraps ErrManifest, signing.ErrUnknownKey or signing.ErrBadSignature.
func Verify(keys signing.Keyring, s Signed) (Manifest, error) {
	m, err := Parse(s.Manifest)
	if err != nil {
		return Manifest{}, err
	}
	if err := keys.Verify(m.KeyID, s.Manifest, s.Signature); err != nil {
		return Manifest{}, fmt.Errorf("release signature: %w (pinned: %s)", err, strings.Join(keys.IDs(), ", "))
	}
	return m, nil
}

// Digest measures bytes written to it: size, SHA-256 and SM3.
type Digest struct {
	n   int64
	sha hash.Hash
	sm3 hash.Hash
}

// NewDigest returns an empty Digest.
func NewDigest() *Digest { return &Digest{sha: sha256.New(), sm3: sm3.New()} }

// Write implements io.Writer.
func (d *Digest) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	d.sha.Write(p)
	d.sm3.Write(p)
	return len(p), nil
}

// Size is the number of bytes written.
func (d *Digest) Size() int64 { return d.n }

// SHA256 and SM3 are the digests so far, in lower-case hex.
func (d *Digest) SHA256() string { return hex.EncodeToString(d.sha.Sum(nil)) }

// SM3 returns the SM3 digest so far, in lower-case hex.
func (d *Digest) SM3() string { return hex.EncodeToString(d.sm3.Sum(nil)) }

// Check compares the measured bytes with m. The error wraps ErrDigest and names
// every field that differs.
func (d *Digest) Check(m Manifest) error {
	var p []string
	if d.n != m.Size {
		p = append(p, fmt.Sprintf("size %d, manifest %d", d.n, m.Size))
	}
	if s := d.SHA256(); s != m.SHA256 {
		p = append(p, "SHA-256 "+s+", manifest "+m.SHA256)
	}
	if s := d.SM3(); s != m.SM3 {
		p = append(p, "SM3 "+s+", manifest "+m.SM3)
	}
	if len(p) > 0 {
		return fmt.Errorf("%w: %s", ErrDigest, strings.Join(p, "; "))
	}
	return nil
}

// Describe measures the artifact r and returns its manifest (KeyID left for Sign).
func Describe(r io.Reader, version, goos, goarch string) (Manifest, error) {
	d := NewDigest()
	if _, err := io.Copy(d, r); err != nil {
		return Manifest{}, err
	}
	return Manifest{V: FormatVersion, Name: "sscagent", Kind: KindBinary, Version: version, GOOS: goos, GOARCH: goarch,
		Size: d.Size(), SHA256: d.SHA256(), SM3: d.SM3()}, nil
}

// DescribePackage measures the package r (kind deb or rpm) and returns its manifest:
// version is what the binary inside reports, pkgVersion the package's own version.
func DescribePackage(r io.Reader, kind, version, pkgVersion, goarch string) (Manifest, error) {
	m, err := Describe(r, version, "linux", goarch)
	m.Kind, m.Package = kind, pkgVersion
	return m, err
}

// ManifestPath and SignaturePath are where the files of artifact lie.
func ManifestPath(artifact string) string { return artifact + ".manifest" }

// SignaturePath is the detached signature's file beside artifact.
func SignaturePath(artifact string) string { return artifact + ".manifest.sig" }

// WriteFiles writes s beside artifact (FILE.manifest, FILE.manifest.sig).
func WriteFiles(artifact string, s Signed) error {
	if err := os.WriteFile(ManifestPath(artifact), s.Manifest, 0o644); err != nil {
		return err
	}
	return os.WriteFile(SignaturePath(artifact), s.Signature, 0o644)
}

// ReadFiles reads the manifest and signature beside artifact.
func ReadFiles(artifact string) (Signed, error) {
	m, err := os.ReadFile(ManifestPath(artifact))
	if err != nil {
		return Signed{}, fmt.Errorf("release manifest: %w (sign the artifact with 'sscagent release sign')", err)
	}
	sig, err := os.ReadFile(SignaturePath(artifact))
	if err != nil {
		return Signed{}, fmt.Errorf("release signature: %w (sign the artifact with 'sscagent release sign')", err)
	}
	return Signed{Manifest: m, Signature: sig}, nil
}

// Command is the upgrade command's arguments (docs/mgmt-protocol.md, "upgrade"): where
// to download the artifact, and its signed manifest.
type Command struct {
	URL string `json:"url"`
	Signed
}
