package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/agent/upgrade"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/internal/release"
	"github.com/sscagent/sscagent/internal/signing"
	"github.com/sscagent/sscagent/mgmt/fleet"
)

// Builds of the agent that differ in version (and two broken ones), made once per test
// binary beside the one TestMain builds.
var (
	buildsMu sync.Mutex
	builds   = map[string]string{}
)

// agentBuild returns the path of the agent built with version stamped in and tags.
func agentBuild(t *testing.T, version, tags string) string {
	t.Helper()
	buildsMu.Lock()
	defer buildsMu.Unlock()
	if p, ok := builds[version]; ok {
		return p
	}
	p := filepath.Join(filepath.Dir(binary), "builds", version, "sscagent")
	// As the Makefile builds: -trimpath (no -ldflags in the build info), the version in
	// Version and in Stamp, which release sign reads from the bytes.
	const v = "github.com/sscagent/sscagent/internal/version."
	args := []string{"build", "-trimpath", "-o", p, "-ldflags", "-X " + v + "Version=" + version + " -X " + v + "Stamp=sscagent-version=" + version + ";"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", version, err, out)
	}
	builds[version] = p
	return p
}

const (
	versionA = "v0.0.1-test.a"
	versionB = "v0.0.2-test.b"
)

// upgradeLab is a broker, a release key, a CA and terminals running build A.
type upgradeLab struct {
	t                 *testing.T
	broker            string
	keyFile, pubFile  string
	caFile            string
	certFile, keyPath string // the file server's
	a                 []byte
}

func newUpgradeLab(t *testing.T) *upgradeLab {
	if testing.Short() {
		t.Skip("builds the agent three times and runs it against mosquitto")
	}
	b := labtest.StartMosquitto(t, labtest.MosquittoOptions{})
	ca := labtest.NewCA(t)
	cert, key := ca.Issue(t, "localhost", false)
	dir := t.TempDir()
	if rc, out, errOut := fleetCLI(t, "release", "keygen", "--out", dir); rc != cli.ExitOK || !strings.Contains(out, "key id: sm2:") {
		t.Fatalf("release keygen rc=%d %s%s", rc, out, errOut)
	}
	a, err := os.ReadFile(agentBuild(t, versionA, ""))
	if err != nil {
		t.Fatal(err)
	}
	return &upgradeLab{t: t, broker: b.URL, keyFile: filepath.Join(dir, "release.key.pem"), pubFile: filepath.Join(dir, "release.pub.pem"),
		caFile: ca.CertFile, certFile: cert, keyPath: key, a: a}
}

// kiosk is one terminal: build A copied into its own directory and run from there.
type kiosk struct {
	id, exe, stateDir string
	log               *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) add(l string) { s.mu.Lock(); s.b.WriteString(l + "\n"); s.mu.Unlock() }
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (l *upgradeLab) startKiosk(id string, repl ...string) *kiosk {
	t := l.t
	t.Helper()
	cfg := writeConfig(t, append(repl, "format: auto", "format: json", "listen: 127.0.0.1:8765", "listen: 127.0.0.1:0",
		"/dev/ttyACM0", filepath.Join(t.TempDir(), "no-scanner"), "id: SSC-DEMO-0001", "id: "+id,
		"brokers: []", "brokers: ["+l.broker+"]", "telemetryInterval: 30s", "telemetryInterval: 1s")...)
	dir := filepath.Dir(cfg)
	writeKeys(t, dir)
	// The example's upgrade section is its last: replaced by this terminal's.
	src, err := os.ReadFile(cfg)
	i := bytes.Index(src, []byte("\nupgrade:\n"))
	if err != nil || i < 0 {
		t.Fatalf("no upgrade section in the example configuration (%v)", err)
	}
	src = append(src[:i], "\nupgrade:\n  releaseKeys: ["+l.pubFile+"]\n  caFile: "+l.caFile+"\n  healthWindow: 5s\n  downloadTimeout: 30s\n"...)
	if err := os.WriteFile(cfg, src, 0o600); err != nil {
		t.Fatal(err)
	}
	k := &kiosk{id: id, exe: filepath.Join(dir, "bin", "sscagent"), stateDir: filepath.Join(dir, "state"), log: &syncBuffer{}}
	os.MkdirAll(filepath.Dir(k.exe), 0o755)
	if err := os.WriteFile(k.exe, l.a, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(k.exe, "run", "--config", cfg)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			k.log.add(sc.Text())
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-done
		if t.Failed() {
			t.Logf("%s log:\n%s", id, k.log.String())
		}
	})
	l.waitVersion(k, versionA)
	return k
}

// waitVersion waits until the terminal's birth says version.
func (l *upgradeLab) waitVersion(k *kiosk, version string) {
	t := l.t
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, out, _ := fleetCLI(t, "fleet", "show", "--broker", l.broker, "--json", k.id)
		var st fleet.Terminal
		if json.Unmarshal([]byte(out), &st) == nil && st.Presence == fleet.Online && st.State != nil &&
			st.State.Software != nil && st.State.Software.Version == version {
			if p := st.State.Software.Platform; p != runtime.GOOS+"/"+runtime.GOARCH {
				t.Fatalf("birth platform %q", p)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reported %s online; last: %s\n%s", k.id, version, out, k.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sign copies the build to a fresh directory and signs it there with the CLI.
func (l *upgradeLab) sign(build string) string {
	t := l.t
	t.Helper()
	b, err := os.ReadFile(build)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "sscagent")
	os.WriteFile(p, b, 0o755)
	if rc, out, errOut := fleetCLI(t, "release", "sign", "--key", l.keyFile, "--artifact", p); rc != cli.ExitOK {
		t.Fatalf("release sign rc=%d %s%s", rc, out, errOut)
	}
	return p
}

func (l *upgradeLab) upgrade(version string, extra ...string) (int, string, string) {
	l.t.Helper()
	args := append([]string{"fleet", "upgrade", "--broker", l.broker, "--version", version, "--command-timeout", "1m", "--stage-timeout", "2m"}, extra...)
	return fleetCLI(l.t, args...)
}

func (l *upgradeLab) serve() []string {
	return []string{"--serve", "127.0.0.1:0", "--cert", l.certFile, "--key", l.keyPath}
}

func fileIs(t *testing.T, path string, want []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(b, want) {
		t.Fatalf("%s: %d bytes, %v; want the %d bytes expected", path, len(b), err, len(want))
	}
}

func stateOf(t *testing.T, k *kiosk) upgrade.State {
	t.Helper()
	st, ok, err := upgrade.LoadState(k.stateDir)
	if err != nil || !ok {
		t.Fatalf("upgrade state: %v %v", ok, err)
	}
	return st
}

// TestFleetUpgrade: two terminals running build A upgrade to build B in two stages
// (the birth shows B, A is kept as .prev); a build that exits at once and one that
// never gets healthy are rolled back to A and the failure reported, and the rollout
// stops at the first failure.
func TestFleetUpgrade(t *testing.T) {
	l := newUpgradeLab(t)
	b := l.sign(agentBuild(t, versionB, ""))
	bBytes, _ := os.ReadFile(b)
	k1, k2 := l.startKiosk("UPG-OK-1"), l.startKiosk("UPG-OK-2")

	rc, out, errOut := l.upgrade(versionB, append(l.serve(), "--artifact", b, "--terminals", "UPG-OK-*", "--percent", "50")...)
	if rc != cli.ExitOK || !strings.Contains(out, "stage 1  UPG-OK-1: upgraded "+versionA+" -> "+versionB) ||
		!strings.Contains(out, "stage 2  UPG-OK-2: upgraded "+versionA+" -> "+versionB) {
		t.Fatalf("upgrade rc=%d\n%s%s", rc, out, errOut)
	}
	for _, k := range []*kiosk{k1, k2} {
		l.waitVersion(k, versionB)
		fileIs(t, k.exe, bBytes)
		fileIs(t, upgrade.PrevPath(k.exe), l.a)
		if st := stateOf(t, k); st.Phase != upgrade.PhaseDone || !st.Reported || st.From != versionA || st.To != versionB {
			t.Fatalf("%s state %+v", k.id, st)
		}
		if !strings.Contains(k.log.String(), `"msg":"upgrade: trial passed; the new build is in place"`) {
			t.Fatalf("%s: no trial in the log", k.id)
		}
	}
	// Again: nothing to do.
	if rc, out, _ := l.upgrade(versionB, append(l.serve(), "--artifact", b, "--terminals", "UPG-OK-1")...); rc != cli.ExitOK || !strings.Contains(out, "UPG-OK-1: already") {
		t.Fatalf("second upgrade rc=%d %s", rc, out)
	}

	// A terminal that pins a manager key takes the command only signed by it (and still
	// checks the release signature).
	mk := t.TempDir()
	if rc, out, errOut := fleetCLI(t, "fleet", "keys", "gen", "--out", mk); rc != cli.ExitOK {
		t.Fatalf("fleet keys gen rc=%d %s%s", rc, out, errOut)
	}
	ks := l.startKiosk("UPG-SIG-1", "managerKeys: []", "managerKeys: ["+filepath.Join(mk, "manager.pub.pem")+"]")
	if rc, out, errOut := l.upgrade(versionB, append(l.serve(), "--artifact", b, "--terminals", ks.id)...); rc != cli.ExitFail || !strings.Contains(out, "UPG-SIG-1: refused") {
		t.Fatalf("unsigned upgrade of a pinned terminal rc=%d\n%s%s", rc, out, errOut)
	}
	fileIs(t, ks.exe, l.a)
	rc, out, errOut = l.upgrade(versionB, append(l.serve(), "--signing-key", filepath.Join(mk, "manager.key.pem"), "--artifact", b, "--terminals", ks.id)...)
	if rc != cli.ExitOK || !strings.Contains(out, "UPG-SIG-1: upgraded") {
		t.Fatalf("signed upgrade rc=%d\n%s%s", rc, out, errOut)
	}
	l.waitVersion(ks, versionB)

	// Broken builds: the first stage fails and the second is skipped.
	for _, bad := range []struct{ version, tags, reason string }{
		{"v0.0.3-test.exits", "sscagent_badbuild_exit", "exited before reporting healthy (exit status 70)"},
		{"v0.0.3-test.hangs", "sscagent_badbuild_hang", "did not report healthy within 5s"},
	} {
		t.Run(bad.version, func(t *testing.T) {
			l := *l
			l.t = t
			art := l.sign(agentBuild(t, bad.version, bad.tags))
			k, next := l.startKiosk("UPG-BAD-1"), l.startKiosk("UPG-BAD-2")
			rc, out, errOut := l.upgrade(bad.version, append(l.serve(), "--artifact", art, "--list", k.id, "--list", next.id)...)
			if rc != cli.ExitFail || !strings.Contains(out, "stage 1  UPG-BAD-1: failed (rolled back): trial: the new build "+bad.reason+" [160003]") ||
				!strings.Contains(out, "stage 2  UPG-BAD-2: skipped") || !strings.Contains(errOut, "2 of 2 terminals do not run") {
				t.Fatalf("bad upgrade rc=%d\n%s%s", rc, out, errOut)
			}
			l.waitVersion(k, versionA)
			fileIs(t, k.exe, l.a)
			fileIs(t, next.exe, l.a)
			for _, p := range []string{upgrade.PrevPath(k.exe), filepath.Join(filepath.Dir(k.exe), ".sscagent.staged")} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Fatalf("%s left behind: %v", p, err)
				}
			}
			if st := stateOf(t, k); st.Phase != upgrade.PhaseFailed || !st.Reported {
				t.Fatalf("state %+v", st)
			}
		})
	}
}

// TestFleetUpgradeRefusals: what does not verify is refused with its code, before
// anything is swapped: bytes that differ from the manifest (tampered, truncated), a
// changed signature, a key the terminal does not pin, another platform.
func TestFleetUpgradeRefusals(t *testing.T) {
	l := newUpgradeLab(t)
	b := l.sign(agentBuild(t, versionB, ""))
	good, _ := os.ReadFile(b)
	k := l.startKiosk("UPG-REF-1")

	// The terminal downloads from this server whatever it is given to serve.
	serving := map[string][]byte{}
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		body, ok := serving[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	cert, err := tls.LoadX509KeyPair(l.certFile, l.keyPath)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	// variant writes an artifact directory: the good build (so the manager's own check
	// passes) with the given manifest and signature, and serves body for it.
	variant := func(name string, body []byte, s release.Signed) string {
		dir := t.TempDir()
		p := filepath.Join(dir, "sscagent")
		os.WriteFile(p, good, 0o755)
		if err := release.WriteFiles(p, s); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		serving["/"+name+"/sscagent"] = body
		mu.Unlock()
		return p
	}
	signed, err := release.ReadFiles(b)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := release.Parse(signed.Manifest)
	tampered := bytes.Clone(good)
	tampered[len(tampered)/2] ^= 0x40
	badSig := bytes.Clone(signed.Signature)
	badSig[len(badSig)-3] ^= 1
	otherKey, _ := signing.Generate(signing.SM2)
	byOther, _ := release.Sign(otherKey, m)
	pemB, _ := os.ReadFile(l.keyFile)
	pinned, _ := signing.ParsePrivateKey(pemB)
	arm := m
	arm.GOARCH = map[string]string{"arm64": "amd64"}[runtime.GOARCH]
	if arm.GOARCH == "" {
		arm.GOARCH = "arm64"
	}
	forArm, _ := release.Sign(pinned, arm)

	for _, c := range []struct {
		name string
		body []byte
		s    release.Signed
		want string
	}{
		{"tampered", tampered, signed, "[160008]: artifact does not match its manifest: SHA-256"},
		{"truncated", good[:len(good)-1], signed, "[160008]: artifact does not match its manifest: size " + itoa(len(good)-1)},
		{"longer", append(bytes.Clone(good), 0), signed, "[160008]: artifact does not match its manifest: size " + itoa(len(good)+1)},
		{"bad-signature", good, release.Signed{Manifest: signed.Manifest, Signature: badSig}, "[160005]: release signature: sm2 key " + m.KeyID + ": signature does not verify"},
		{"unknown-key", good, byOther, "[160005]: release signature: key \"" + otherKey.Public().ID() + "\": signed by a key that is not pinned"},
		// The manager offers a terminal only its platform's build...
		{"platform", good, forArm, "UPG-REF-1: refused: no artifact for binary " + runtime.GOOS + "/" + runtime.GOARCH},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := variant(c.name, c.body, c.s)
			rc, out, errOut := l.upgrade(versionB, "--base-url", srv.URL+"/"+c.name, "--artifact", p, "--terminals", k.id)
			if rc != cli.ExitFail || !strings.Contains(out, "UPG-REF-1: refused: ") || !strings.Contains(out, c.want) {
				t.Fatalf("rc=%d want %q\n%s%s", rc, c.want, out, errOut)
			}
			fileIs(t, k.exe, l.a)
			for _, p := range []string{upgrade.PrevPath(k.exe), filepath.Join(filepath.Dir(k.exe), ".sscagent.staged")} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Fatalf("%s left behind: %v", p, err)
				}
			}
			if !strings.Contains(k.log.String(), `"event":"upgrade.refused"`) {
				t.Fatalf("no upgrade.refused event in the log")
			}
		})
	}
	// ... and the terminal refuses another platform's build sent as a raw command.
	raw, _ := json.Marshal(release.Command{URL: srv.URL + "/platform/sscagent", Signed: forArm})
	rc, out, _ := fleetCLI(t, "fleet", "cmd", "--broker", l.broker, "--args", string(raw), "upgrade", k.id)
	if rc != cli.ExitFail || !strings.Contains(out, "UPG-REF-1: error: ") || !strings.Contains(out, "[160006]: the artifact is for "+arm.Platform()) ||
		!strings.Contains(out, "[160006]") {
		t.Fatalf("raw other-platform upgrade rc=%d %s", rc, out)
	}
	fileIs(t, k.exe, l.a)
	l.waitVersion(k, versionA)

	// The manager refuses, before sending, a file that differs from its manifest.
	p := variant("local", good, signed)
	os.WriteFile(p, tampered, 0o755)
	if rc, _, errOut := l.upgrade(versionB, "--base-url", srv.URL+"/local", "--artifact", p, "--terminals", k.id); rc != cli.ExitFail || !strings.Contains(errOut, "does not match its manifest") {
		t.Fatalf("local tampered rc=%d %s", rc, errOut)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
