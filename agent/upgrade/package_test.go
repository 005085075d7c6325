package upgrade

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/internal/release"
	"github.com/sscagent/sscagent/internal/signing"
	"github.com/sscagent/sscagent/internal/version"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	labtest.WaitUntil(t, 10*time.Second, what, cond)
}

// A terminal installed from a .deb (its marker beside the executable) refuses a
// binary, and hands a verified .deb to the root helper without restarting; the
// helper's outcome is then reported, by whichever process runs.
func TestPackageHandOver(t *testing.T) {
	helperPoll = 10 * time.Millisecond
	l := newLayout(t)
	os.MkdirAll(filepath.Join(l.dir, "lib", "sscagent"), 0o755)
	os.WriteFile(filepath.Join(l.dir, "lib", "sscagent", "install"), []byte("deb\n"), 0o644)
	if k := InstallKind(l.exe); k != release.KindDeb {
		t.Fatalf("InstallKind = %q", k)
	}
	body := []byte("!<arch>\na .deb\n")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	ca := filepath.Join(l.dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	key, _ := signing.Generate(signing.Ed25519)
	u, e := newTestUpdater(t, l, key.Public())
	u.client, _ = newClient(ca)
	if u.Install() != release.KindDeb {
		t.Fatalf("Install = %q", u.Install())
	}
	args := func(m release.Manifest) json.RawMessage {
		s, err := release.Sign(key, m)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(release.Command{URL: srv.URL + "/sscagent.deb", Signed: s})
		return b
	}
	bin, _ := release.Describe(bytes.NewReader(body), "v2", runtime.GOOS, runtime.GOARCH)
	if _, err := u.Run(t.Context(), args(bin)); CodeOf(err) != CodeWrongPlatform || !strings.Contains(err.Error(), "installed as a deb") {
		t.Fatalf("a binary on a packaged terminal: %v", err)
	}
	if runtime.GOOS != "linux" {
		return
	}
	deb, _ := release.DescribePackage(bytes.NewReader(body), release.KindDeb, "v2", "2-1", runtime.GOARCH)
	v, err := u.Run(t.Context(), args(deb))
	if err != nil || !strings.Contains(fmt.Sprint(v), "helper:true") {
		t.Fatalf("Run = %v, %v", v, err)
	}
	mustBe(t, handoverPath(l.state, StagedFile), body)
	mustBe(t, l.exe, l.old) // nothing beside the executable
	b, _ := os.ReadFile(handoverPath(l.state, RequestFile))
	rq, err := ParseRequest(b)
	if m, verr := release.Verify(signing.Keyring{key.Public()}, rq.Signed); err != nil || verr != nil || m.Kind != release.KindDeb || rq.From != version.Get().Version {
		t.Fatalf("request %s: %v %v", b, err, verr)
	}
	if st := l.phase(t); st.Phase != PhaseHelper || st.To != "v2" {
		t.Fatalf("state %+v", st)
	}
	if _, err := u.Run(t.Context(), args(deb)); CodeOf(err) != CodeBusy {
		t.Fatalf("a second upgrade while the helper has one: %v", err)
	}

	// The restarted agent (a new process): healthy goes to the helper's health file,
	// the helper's "done" becomes upgrade.succeeded.
	u2, e2 := newTestUpdater(t, l, key.Public())
	u2.Started(t.Context())
	u2.Healthy()
	hb, _ := os.ReadFile(handoverPath(l.state, HealthFile))
	if got, ok := ParseHealth(hb); !ok || got != version.Get().Version {
		t.Fatalf("health file %q", hb)
	}
	res, _ := json.Marshal(Result{To: "v2", Outcome: OutcomeDone})
	os.WriteFile(handoverPath(l.state, ResultFile), res, 0o644)
	waitFor(t, "upgrade.succeeded", func() bool { return len(e2.all()) == 1 })
	if got := e2.all()[0]; !strings.HasPrefix(got, KindSucceeded+" true [160002]") {
		t.Fatalf("event %s", got)
	}
	waitFor(t, "the outcome reported", func() bool { st := l.phase(t); return st.Phase == PhaseDone && st.Reported })
	mustNotExist(t, handoverPath(l.state, StagedFile))

	// A rollback by the helper is upgrade.failed with its code and reason.
	if _, err := u.Run(t.Context(), args(deb)); err != nil {
		t.Fatal(err)
	}
	u3, e3 := newTestUpdater(t, l, key.Public())
	res, _ = json.Marshal(Result{To: "v2", Outcome: OutcomeFailed, Code: CodeRolledBack, Reason: "version v2 did not report healthy"})
	os.WriteFile(handoverPath(l.state, ResultFile), res, 0o644)
	u3.Started(t.Context())
	waitFor(t, "upgrade.failed", func() bool { return len(e3.all()) == 1 })
	if got := e3.all()[0]; got != KindFailed+" false [160003] version v2 did not report healthy" {
		t.Fatalf("event %s", got)
	}
	if n := len(e.all()); n != 4 { // refused (binary), staged, refused (busy), staged
		t.Fatalf("events of the first process: %v", e.all())
	}
}

func FuzzParseResult(f *testing.F) {
	b, _ := json.Marshal(Result{To: "v2", Outcome: OutcomeFailed, Code: CodeRolledBack, Reason: "x"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseResult(b); err == nil && r.Outcome != OutcomeDone && r.Outcome != OutcomeFailed && r.Outcome != OutcomeRefused {
			t.Fatalf("accepted outcome %q", r.Outcome)
		}
	})
}
