package helper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sscagent/sscagent/agent/upgrade"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/internal/pkgfile"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/internal/release"
	"github.com/sscagent/sscagent/internal/signing"
)

// host is a throwaway root that the real dpkg or rpm installs into (--root), the
// agent's state directory, and packages built with nfpm: the "agent" in them is a
// script that prints its version, and the test's restart runs it and writes the
// health file with what it printed (nothing when it fails), as the agent would.
type host struct {
	t        *testing.T
	kind     string
	root     string
	state    string
	work     string
	cache    string
	key      *signing.PrivateKey
	inst     *countingInstaller
	restarts atomic.Int32
	pkgs     map[string]string // version -> package path
}

type countingInstaller struct {
	Installer
	n atomic.Int32
}

func (c *countingInstaller) Install(ctx context.Context, p string) error {
	c.n.Add(1)
	return c.Installer.Install(ctx, p)
}

func newHost(t *testing.T, kind string) *host {
	t.Helper()
	if os.Geteuid() != 0 {
		labtest.Unavailable(t, "dpkg/rpm --root need root")
	}
	d := t.TempDir()
	h := &host{t: t, kind: kind, root: filepath.Join(d, "root"), state: filepath.Join(d, "state"), work: filepath.Join(d, "work"),
		cache: filepath.Join(d, "cache"), pkgs: map[string]string{}}
	for _, p := range []string{h.state, h.cache} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var in Installer
	switch kind {
	case release.KindDeb:
		labtest.Require(t, "dpkg", "dpkg-query", "dpkg-deb")
		for _, p := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
			os.MkdirAll(filepath.Join(h.root, p), 0o755)
		}
		os.WriteFile(filepath.Join(h.root, "var/lib/dpkg/status"), nil, 0o644)
		in = Dpkg{Args: []string{"--root", h.root}}
	case release.KindRPM:
		labtest.Require(t, "rpm")
		if out, err := exec.Command("rpm", "--root", h.root, "--initdb").CombinedOutput(); err != nil {
			t.Fatalf("rpm --initdb: %v %s", err, out)
		}
		in = RPM{Args: []string{"--root", h.root}}
	}
	h.inst = &countingInstaller{Installer: in}
	var err error
	if h.key, err = signing.Generate(signing.Ed25519); err != nil {
		t.Fatal(err)
	}
	return h
}

// build makes the package of version v ("1.0.0"), whose agent reports "v"+v, or
// exits 1 when healthy is false.
func (h *host) build(v, arch string, healthy bool) string {
	h.t.Helper()
	script := "#!/bin/sh\necho v" + v + "\n"
	if !healthy {
		script = "#!/bin/sh\nexit 1\n"
	}
	p := labtest.BuildPackage(h.t, h.t.TempDir(), labtest.PackageSpec{Kind: h.kind, Version: v, Arch: arch,
		Files: map[string][]byte{pkgfile.BinaryPath: []byte(script), "/usr/lib/sscagent/install": []byte(h.kind + "\n")}})
	h.pkgs[v] = p
	return p
}

// installed is the version the package database has.
func (h *host) installed() string {
	v, err := h.inst.Installed(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

// sign returns the signed manifest of the package p, with mut applied before signing.
func (h *host) sign(p string, key *signing.PrivateKey, mut func(*release.Manifest)) release.Signed {
	h.t.Helper()
	info, err := pkgfile.Read(context.Background(), h.kind, p)
	if err != nil {
		h.t.Fatal(err)
	}
	f, _ := os.Open(p)
	defer f.Close()
	m, err := release.DescribePackage(f, h.kind, "v"+strings.TrimSuffix(info.Version, "-1"), info.Version, info.Arch)
	if err != nil {
		h.t.Fatal(err)
	}
	if mut != nil {
		mut(&m)
	}
	s, err := release.Sign(key, m)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// handOver writes what the agent writes: the staged package and the request.
func (h *host) handOver(p string, s release.Signed) {
	h.t.Helper()
	dir := filepath.Join(h.state, upgrade.HandoverDir)
	os.MkdirAll(dir, 0o700)
	b, err := os.ReadFile(p)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, upgrade.StagedFile), b, 0o644); err != nil {
		h.t.Fatal(err)
	}
	rq, _ := json.Marshal(upgrade.Request{Signed: s, From: "v1.0.0"})
	if err := os.WriteFile(filepath.Join(dir, upgrade.RequestFile), rq, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) options(window time.Duration) Options {
	return Options{StateDir: h.state, WorkDir: h.work, Keys: signing.Keyring{h.key.Public()}, Kind: h.kind, Arch: runtime.GOARCH,
		MaxBytes: 64 << 20, HealthWindow: window, CacheDirs: []string{h.cache}, Installer: h.inst,
		Log: slog.New(slog.DiscardHandler),
		Restart: func(ctx context.Context) error {
			h.restarts.Add(1)
			out, err := exec.CommandContext(ctx, filepath.Join(h.root, pkgfile.BinaryPath)).Output()
			if err != nil {
				return nil // started, and not healthy
			}
			return os.WriteFile(filepath.Join(h.state, upgrade.HandoverDir, upgrade.HealthFile), append([]byte("healthy "), out...), 0o644)
		}}
}

// resultFile is what the agent reads.
func (h *host) resultFile() upgrade.Result {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.state, upgrade.HandoverDir, upgrade.ResultFile))
	if err != nil {
		h.t.Fatal(err)
	}
	r, err := upgrade.ParseResult(b)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// firstInstall installs version 1.0.0 as an administrator would (not through the
// helper), its package left in the cache directory like apt's archives.
func (h *host) firstInstall() {
	h.t.Helper()
	p := h.build("1.0.0", runtime.GOARCH, true)
	if err := h.inst.Installer.Install(context.Background(), p); err != nil {
		h.t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	os.WriteFile(filepath.Join(h.cache, filepath.Base(p)), b, 0o644)
	if v := h.installed(); v != "1.0.0-1" {
		h.t.Fatalf("installed %q after the first install", v)
	}
}

func kinds(t *testing.T, f func(t *testing.T, kind string)) {
	for _, k := range []string{release.KindDeb, release.KindRPM} {
		t.Run(k, func(t *testing.T) { f(t, k) })
	}
}

// TestApplyUpgradeAndKeep: a signed package is installed by the real package manager,
// the restarted agent reports healthy, and the package is kept for the next rollback;
// the next upgrade to a version that does not get healthy reinstalls it.
func TestApplyUpgradeAndRollback(t *testing.T) {
	kinds(t, func(t *testing.T, kind string) {
		h := newHost(t, kind)
		h.firstInstall()
		p2 := h.build("2.0.0", runtime.GOARCH, true)
		h.handOver(p2, h.sign(p2, h.key, nil))
		r, err := Apply(context.Background(), h.options(30*time.Second))
		if err != nil || r.Outcome != upgrade.OutcomeDone || r.To != "v2.0.0" {
			t.Fatalf("Apply = %+v, %v", r, err)
		}
		if !strings.HasPrefix(r.Rollback, "reinstall 1.0.0-1 from "+h.cache) {
			t.Errorf("rollback of the first upgrade: %q, want the cached package", r.Rollback)
		}
		if v := h.installed(); v != "2.0.0-1" {
			t.Fatalf("installed %q, want 2.0.0-1", v)
		}
		if got := h.resultFile(); got != r {
			t.Fatalf("result file %+v, returned %+v", got, r)
		}
		if _, err := os.Stat(filepath.Join(h.state, upgrade.HandoverDir, upgrade.RequestFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the request is still there: %v", err)
		}
		if i, err := pkgfile.Read(context.Background(), kind, filepath.Join(h.work, "current."+kind)); err != nil || i.Version != "2.0.0-1" {
			t.Fatalf("kept package %+v, %v", i, err)
		}
		if _, err := Apply(context.Background(), h.options(time.Second)); !errors.Is(err, ErrNoRequest) {
			t.Fatalf("Apply without a request = %v", err)
		}

		// 3.0.0 installs but its agent never reports healthy: the kept 2.0.0 comes back.
		p3 := h.build("3.0.0", runtime.GOARCH, false)
		h.handOver(p3, h.sign(p3, h.key, nil))
		h.restarts.Store(0)
		r, err = Apply(context.Background(), h.options(2*time.Second))
		if err != nil || r.Outcome != upgrade.OutcomeFailed || r.Code != upgrade.CodeRolledBack {
			t.Fatalf("Apply of an unhealthy version = %+v, %v", r, err)
		}
		if !strings.Contains(r.Reason, "did not report healthy within 2s") || !strings.Contains(r.Reason, "reinstalled") ||
			r.Rollback != "reinstall 2.0.0-1 from "+filepath.Join(h.work, "current."+kind) {
			t.Errorf("reason %q, rollback %q", r.Reason, r.Rollback)
		}
		if v := h.installed(); v != "2.0.0-1" {
			t.Fatalf("installed %q after the rollback, want 2.0.0-1", v)
		}
		if n := h.restarts.Load(); n != 2 {
			t.Errorf("%d restarts, want 2 (the new version, then the old)", n)
		}
	})
}

// TestApplyRefusals: nothing is installed, and the installed version stays, for a
// package that is tampered with, unsigned, signed by an unpinned key, for another
// architecture, or whose metadata differs from its manifest; a staged file that
// links out of the state directory is not read.
func TestApplyRefusals(t *testing.T) {
	kinds(t, func(t *testing.T, kind string) {
		h := newHost(t, kind)
		h.firstInstall()
		p2 := h.build("2.0.0", runtime.GOARCH, true)
		other := "arm64"
		if runtime.GOARCH == "arm64" {
			other = "amd64"
		}
		pArch := h.build("2.0.1", other, true)
		stranger, _ := signing.Generate(signing.Ed25519)
		good := h.sign(p2, h.key, nil)
		flipped := bytes.Clone(good.Signature)
		flipped[5] ^= 1
		dir := filepath.Join(h.state, upgrade.HandoverDir)
		for _, c := range []struct {
			name   string
			setup  func()
			code   prompt.Code
			reason string
		}{
			{"tampered", func() {
				h.handOver(p2, good)
				b, _ := os.ReadFile(filepath.Join(dir, upgrade.StagedFile))
				b[len(b)/2] ^= 1
				os.WriteFile(filepath.Join(dir, upgrade.StagedFile), b, 0o644)
			}, upgrade.CodeDigest, "does not match its manifest"},
			{"unsigned", func() { h.handOver(p2, release.Signed{Manifest: good.Manifest, Signature: flipped}) }, upgrade.CodeBadSignature, "signature"},
			{"unpinned key", func() { h.handOver(p2, h.sign(p2, stranger, nil)) }, upgrade.CodeBadSignature, "not pinned"},
			{"other architecture", func() { h.handOver(pArch, h.sign(pArch, h.key, nil)) }, upgrade.CodeWrongPlatform, "the package is for " + other},
			{"metadata differs", func() {
				h.handOver(p2, h.sign(p2, h.key, func(m *release.Manifest) { m.Package = "9.0.0-1" }))
			}, upgrade.CodeDigest, "the package says sscagent 2.0.0-1"},
			{"other kind", func() {
				h.handOver(p2, h.sign(p2, h.key, func(m *release.Manifest) { m.Kind = map[string]string{"deb": "rpm", "rpm": "deb"}[kind] }))
			}, upgrade.CodeWrongPlatform, "packages"},
			{"staged links out", func() {
				h.handOver(p2, good)
				outside := filepath.Join(t.TempDir(), "pkg")
				b, _ := os.ReadFile(p2)
				os.WriteFile(outside, b, 0o644)
				os.Remove(filepath.Join(dir, upgrade.StagedFile))
				os.Symlink(outside, filepath.Join(dir, upgrade.StagedFile))
			}, upgrade.CodeCannotStage, "staged package"},
			{"not JSON", func() {
				h.handOver(p2, good)
				os.WriteFile(filepath.Join(dir, upgrade.RequestFile), []byte("{"), 0o644)
			}, upgrade.CodeCannotStage, "upgrade request"},
		} {
			t.Run(c.name, func(t *testing.T) {
				c.setup()
				before := h.inst.n.Load()
				r, err := Apply(context.Background(), h.options(time.Second))
				if err != nil || r.Outcome != upgrade.OutcomeRefused || r.Code != c.code || !strings.Contains(r.Reason, c.reason) {
					t.Fatalf("Apply = %+v, %v; want refused %s %q", r, err, c.code, c.reason)
				}
				if n := h.inst.n.Load() - before; n != 0 {
					t.Fatalf("%d installs for a refused package", n)
				}
				if v := h.installed(); v != "1.0.0-1" {
					t.Fatalf("installed %q, want 1.0.0-1 untouched", v)
				}
				if h.resultFile() != r {
					t.Fatal("the result file differs from the outcome")
				}
				if _, err := os.Stat(filepath.Join(h.work, "incoming."+kind)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("the refused copy stays: %v", err)
				}
			})
		}
	})
}

// TestApplyNoRollbackPackage: the first upgrade of a terminal whose installed package
// is nowhere kept still installs, and says that a failure has no rollback.
func TestApplyNoRollbackPackage(t *testing.T) {
	h := newHost(t, release.KindDeb)
	h.firstInstall()
	os.RemoveAll(h.cache)
	p := h.build("3.0.0", runtime.GOARCH, false)
	h.handOver(p, h.sign(p, h.key, nil))
	r, err := Apply(context.Background(), h.options(time.Second))
	if err != nil || r.Outcome != upgrade.OutcomeFailed || !strings.Contains(r.Reason, "no rollback") ||
		!strings.Contains(r.Rollback, "no package of the installed version 1.0.0-1") {
		t.Fatalf("Apply = %+v, %v", r, err)
	}
	if v := h.installed(); v != "3.0.0-1" {
		t.Fatalf("installed %q: without a rollback package the new one stays", v)
	}
}

func FuzzParseRequest(f *testing.F) {
	b, _ := json.Marshal(upgrade.Request{Signed: release.Signed{Manifest: []byte("m"), Signature: []byte("s")}, From: "v1"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := upgrade.ParseRequest(b)
		if err == nil && (len(r.Manifest) == 0 || len(r.Signature) == 0) {
			t.Fatal("accepted a request without a manifest")
		}
	})
}
