// Package helper is the root side of package upgrades (`sscagent upgrade apply`, run
// by sscagent-upgrade.service when the agent's request appears): it takes the agent's
// hand-over (agent/upgrade, handover.go) without trusting any of it, re-verifies the
// manifest against the release keys of the root-owned configuration file, copies the
// package into its own directory and checks the copy's digests and its package
// metadata (name, version, architecture) against the manifest, keeps the installed
// package for a rollback, installs with dpkg or rpm, restarts the service and waits
// for the new version's health file; without it in the health window the previous
// package is installed again. The outcome goes to the agent's result file
// (docs/deploy.md, "Packaged terminals").
package helper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sscagent/sscagent/agent/upgrade"
	"github.com/sscagent/sscagent/internal/atomicfile"
	"github.com/sscagent/sscagent/internal/pkgfile"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/internal/release"
	"github.com/sscagent/sscagent/internal/signing"
)

// Installer is the package manager.
type Installer interface {
	// Install installs the package file (an upgrade or a downgrade).
	Install(ctx context.Context, path string) error
	// Installed returns the installed sscagent package's version ("" when none), in
	// the form pkgfile.Info.Version has.
	Installed(ctx context.Context) (string, error)
}

// Options configure Apply.
type Options struct {
	// StateDir is the agent's state directory (agent.stateDir), where the hand-over lies.
	StateDir string
	// WorkDir is the helper's own directory, root's only: the checked copy and the
	// package kept for a rollback (/var/lib/sscagent-upgrade).
	WorkDir string
	// Keys are the pinned release keys, read from the root-owned configuration.
	Keys signing.Keyring
	// Kind is the host's package kind (deb, rpm); Arch its GOARCH.
	Kind, Arch string
	// MaxBytes bounds the package (upgrade.maxBytes).
	MaxBytes int64
	// HealthWindow bounds the wait for the new version's health file.
	HealthWindow time.Duration
	// CacheDirs are searched for the installed version's package when the helper kept
	// none (the first upgrade): /var/cache/apt/archives.
	CacheDirs []string
	Installer Installer
	// Restart restarts the agent's service (systemctl restart sscagent.service).
	Restart func(ctx context.Context) error
	Log     *slog.Logger
}

// ErrNoRequest is Apply's error when there is nothing to do.
var ErrNoRequest = errors.New("no upgrade request")

// keptPath is the package the helper installed last (the rollback of the next upgrade).
func (o Options) keptPath() string { return filepath.Join(o.WorkDir, "current."+o.Kind) }

func (o Options) incomingPath() string { return filepath.Join(o.WorkDir, "incoming."+o.Kind) }

// poll is how often the health file is looked at.
var poll = 200 * time.Millisecond

// Apply carries out the agent's request and writes the result for it. The returned
// Result is what was written; the error is ErrNoRequest, or a result that could not
// be written.
func Apply(ctx context.Context, o Options) (upgrade.Result, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	root, err := os.OpenRoot(o.StateDir) // no name below escapes it, whatever the agent links
	if err != nil {
		return upgrade.Result{}, fmt.Errorf("upgrade helper: the agent's state directory: %w", err)
	}
	defer root.Close()
	reqName := filepath.Join(upgrade.HandoverDir, upgrade.RequestFile)
	b, err := readRegular(root, reqName, 16<<10)
	if errors.Is(err, fs.ErrNotExist) {
		return upgrade.Result{}, ErrNoRequest
	}
	_ = root.Remove(reqName) // taken: the path unit must not start us again for it
	r := apply(ctx, o, root, b, err)
	o.Log.Info("upgrade helper: outcome", "to", r.To, "outcome", r.Outcome, "reason", r.Reason, "rollback", r.Rollback)
	return r, writeResult(root, r)
}

func apply(ctx context.Context, o Options, root *os.Root, req []byte, rerr error) upgrade.Result {
	refused := func(code prompt.Code, format string, args ...any) upgrade.Result {
		return upgrade.Result{Outcome: upgrade.OutcomeRefused, Code: code, Reason: fmt.Sprintf(format, args...)}
	}
	if rerr != nil {
		return refused(upgrade.CodeCannotStage, "the request: %v", rerr)
	}
	rq, err := upgrade.ParseRequest(req)
	if err != nil {
		return refused(upgrade.CodeCannotStage, "%v", err)
	}
	m, err := release.Verify(o.Keys, rq.Signed)
	if err != nil {
		return refused(upgrade.CodeBadSignature, "%v", err)
	}
	res := func(r upgrade.Result) upgrade.Result { r.To = m.Version; return r }
	switch {
	case m.Kind != o.Kind:
		return res(refused(upgrade.CodeWrongPlatform, "the artifact is a %s, this host installs %s packages", m.Kind, o.Kind))
	case m.GOARCH != o.Arch:
		return res(refused(upgrade.CodeWrongPlatform, "the package is for %s, this host is %s", m.GOARCH, o.Arch))
	case m.Size > o.MaxBytes:
		return res(refused(upgrade.CodeCannotStage, "the package is %d bytes, upgrade.maxBytes is %d", m.Size, o.MaxBytes))
	}
	if err := os.MkdirAll(o.WorkDir, 0o700); err != nil {
		return res(refused(upgrade.CodeCannotStage, "%v", err))
	}
	in := o.incomingPath()
	defer os.Remove(in)
	if err := copyChecked(root, filepath.Join(upgrade.HandoverDir, upgrade.StagedFile), in, m); err != nil {
		code := upgrade.CodeCannotStage
		if errors.Is(err, release.ErrDigest) {
			code = upgrade.CodeDigest
		}
		return res(refused(code, "%v", err))
	}
	info, err := pkgfile.Read(ctx, o.Kind, in)
	if err != nil {
		return res(refused(upgrade.CodeDigest, "%v", err))
	}
	if info.Name != m.Name || info.Version != m.Package || info.Arch != m.GOARCH {
		return res(refused(upgrade.CodeDigest, "the package says %s %s %s, its manifest %s %s %s",
			info.Name, info.Version, info.Arch, m.Name, m.Package, m.GOARCH))
	}
	back, why := rollbackPackage(ctx, o)
	o.Log.Info("upgrade helper: installing", "to", m.Version, "package", info.Version, "rollback", why)
	_ = root.Remove(filepath.Join(upgrade.HandoverDir, upgrade.HealthFile))
	if err := o.Installer.Install(ctx, in); err != nil {
		return res(rollback(ctx, o, back, why, fmt.Sprintf("%s refused the package: %v", o.Kind, err), false))
	}
	if err := o.Restart(ctx); err != nil {
		return res(rollback(ctx, o, back, why, fmt.Sprintf("restart: %v", err), true))
	}
	if !waitHealthy(ctx, root, m.Version, o.HealthWindow) {
		return res(rollback(ctx, o, back, why, fmt.Sprintf("version %s did not report healthy within %s after the restart", m.Version, o.HealthWindow), true))
	}
	// Kept for the next upgrade's rollback: the package now installed.
	if err := os.Rename(in, o.keptPath()); err != nil {
		o.Log.Warn("upgrade helper: the installed package is not kept for a rollback", "err", err)
	}
	_ = atomicfile.SyncDir(o.WorkDir)
	return res(upgrade.Result{Outcome: upgrade.OutcomeDone, Rollback: why})
}

// rollbackPackage finds the package of the installed version: the one the helper
// installed last, or one in CacheDirs. It returns the path ("" when none) and what
// a rollback will do, for the log and the result.
func rollbackPackage(ctx context.Context, o Options) (string, string) {
	cur, err := o.Installer.Installed(ctx)
	if err != nil || cur == "" {
		return "", fmt.Sprintf("none: the installed version is unknown (%v)", err)
	}
	cands := []string{o.keptPath()}
	for _, d := range o.CacheDirs {
		for _, pat := range []string{"sscagent_*.", "sscagent-*."} { // deb, rpm naming
			m, _ := filepath.Glob(filepath.Join(d, pat+o.Kind))
			cands = append(cands, m...)
		}
	}
	for _, p := range cands {
		if i, err := pkgfile.Read(ctx, o.Kind, p); err == nil && i.Name == "sscagent" && i.Version == cur && i.Arch == o.Arch {
			return p, "reinstall " + cur + " from " + p
		}
	}
	return "", "none: no package of the installed version " + cur + " is kept; reinstall it from the repository"
}

// rollback installs back after a failed upgrade and restarts when restart is set
// (the new version was started).
func rollback(ctx context.Context, o Options, back, why, reason string, restart bool) upgrade.Result {
	r := upgrade.Result{Outcome: upgrade.OutcomeFailed, Code: upgrade.CodeRolledBack, Reason: reason, Rollback: why}
	if back == "" {
		r.Reason += "; no rollback (" + why + ")"
		return r
	}
	if err := o.Installer.Install(ctx, back); err != nil {
		r.Reason += fmt.Sprintf("; the rollback failed: %v", err)
		return r
	}
	r.Reason += "; the previous package was reinstalled"
	if restart {
		if err := o.Restart(ctx); err != nil {
			r.Reason += fmt.Sprintf(" (restart: %v)", err)
		}
	}
	return r
}

// waitHealthy waits up to window for the agent's health file to name version.
func waitHealthy(ctx context.Context, root *os.Root, version string, window time.Duration) bool {
	name := filepath.Join(upgrade.HandoverDir, upgrade.HealthFile)
	deadline := time.NewTimer(window)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
			if b, err := readRegular(root, name, 256); err == nil {
				if v, ok := upgrade.ParseHealth(b); ok && v == version {
					return true
				}
			}
		}
	}
}

// readRegular reads a regular file of at most max bytes below root.
func readRegular(root *os.Root, name string, max int64) ([]byte, error) {
	f, err := openRegular(root, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("%s: more than %d bytes", name, max)
	}
	return b, err
}

func openRegular(root *os.Root, name string) (*os.File, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	return f, nil
}

// copyChecked copies the staged package into dst (root's) and checks the copy against
// m: what is installed is what was measured, whatever the agent does to its file.
func copyChecked(root *os.Root, name, dst string, m release.Manifest) error {
	src, err := openRegular(root, name)
	if err != nil {
		return fmt.Errorf("the staged package: %w", err)
	}
	defer src.Close()
	_ = os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	d := release.NewDigest()
	_, err = io.Copy(io.MultiWriter(out, d), io.LimitReader(src, m.Size+1))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.Check(m)
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}

// writeResult writes r as the agent's result file, atomically, below root.
func writeResult(root *os.Root, r upgrade.Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	name := filepath.Join(upgrade.HandoverDir, upgrade.ResultFile)
	tmp := name + ".tmp"
	_ = root.Remove(tmp)
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("upgrade helper: result: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		return fmt.Errorf("upgrade helper: result: %w", err)
	}
	return nil
}

// Dpkg installs with dpkg; Args come before the action (tests: --root DIR).
type Dpkg struct{ Args []string }

// Install runs dpkg -i.
func (d Dpkg) Install(ctx context.Context, path string) error {
	return runTool(ctx, "dpkg", append(append([]string{}, d.Args...), "--install", path)...)
}

// Installed runs dpkg-query.
func (d Dpkg) Installed(ctx context.Context) (string, error) {
	args := []string{"--show", "--showformat=${db:Status-Abbrev}|${Version}"}
	for i := 0; i+1 < len(d.Args); i++ {
		if d.Args[i] == "--root" {
			args = append([]string{"--admindir=" + filepath.Join(d.Args[i+1], "var/lib/dpkg")}, args...)
		}
	}
	out, err := exec.CommandContext(ctx, "dpkg-query", append(args, "sscagent")...).Output()
	if err != nil {
		return "", nil // not installed
	}
	st, v, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
	if !strings.HasPrefix(st, "ii") {
		return "", nil
	}
	return v, nil
}

// RPM installs with rpm; Args come before the action (tests: --root DIR).
type RPM struct{ Args []string }

// Install runs rpm -U (an older version too, the same one again too).
func (r RPM) Install(ctx context.Context, path string) error {
	return runTool(ctx, "rpm", append(append([]string{}, r.Args...), "--upgrade", "--oldpackage", "--replacepkgs", path)...)
}

// Installed runs rpm -q.
func (r RPM) Installed(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "rpm", append(append([]string{}, r.Args...), "-q", "--queryformat",
		"%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}", "sscagent")...).Output()
	if err != nil {
		return "", nil // not installed
	}
	return strings.TrimSpace(string(out)), nil
}

func runTool(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		s := strings.TrimSpace(string(out))
		if len(s) > 2000 {
			s = s[len(s)-2000:]
		}
		return fmt.Errorf("%s: %v: %s", name, err, s)
	}
	return nil
}
