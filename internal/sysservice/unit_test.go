package sysservice

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite packaging/linux/sscagent.service from Unit(Packaged)")

const packagedUnit = "../../packaging/linux/sscagent.service"

// TestPackagedUnit: the packages ship Unit(Packaged), byte for byte.
// Regenerate with: go test ./internal/sysservice -run TestPackagedUnit -update
func TestPackagedUnit(t *testing.T) {
	want, err := Unit(Packaged)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(packagedUnit, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(packagedUnit)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from Unit(Packaged); run go test ./internal/sysservice -run TestPackagedUnit -update\n%s", packagedUnit, want)
	}
}

// TestInstallWritesUnit: `service install` hands kardianos/service the same unit, as a
// finished script its template engine copies verbatim.
func TestInstallWritesUnit(t *testing.T) {
	cfg, err := Packaged.config()
	if err != nil {
		t.Fatal(err)
	}
	script, _ := cfg.Option["SystemdScript"].(string)
	want, _ := Unit(Packaged)
	if script != want {
		t.Fatalf("install script differs from Unit(Packaged)")
	}
	if strings.Contains(script, "{{") {
		t.Fatal("unit holds a template action")
	}
	if cfg.Name != Name || cfg.DisplayName != DisplayName || cfg.Description != Description {
		t.Fatalf("service identity %q %q %q", cfg.Name, cfg.DisplayName, cfg.Description)
	}
	if got := strings.Join(cfg.Arguments, " "); got != "run --service --config /etc/sscagent/sscagent.yaml" {
		t.Fatalf("arguments %q", got)
	}
}

func TestUnitContents(t *testing.T) {
	u, err := Unit(Spec{Executable: "/opt/ssc agent/bin/sscagent", ConfigPath: "/srv/a%b/c.yaml", StateDir: "/srv/state"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`ExecStart="/opt/ssc agent/bin/sscagent" run --service --config /srv/a%%b/c.yaml`,
		"ReadWritePaths=/srv/state\n", "Type=notify\n", "WatchdogSec=30\n", "CapabilityBoundingSet=\n",
		"ProtectSystem=strict\n", "SystemCallFilter=@system-service\n", "DeviceAllow=char-hidraw rw\n",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK\n",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if strings.Contains(u, "User=") {
		t.Error("a unit without a user names one")
	}
	if p, _ := Unit(Packaged); strings.Contains(p, "ReadWritePaths") || !strings.Contains(p, "User=sscagent\n") {
		t.Errorf("packaged unit:\n%s", p)
	}
}

func TestUnitQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/sscagent": "/usr/bin/sscagent",
		"a b":               `"a b"`,
		`a"b`:               `"a\"b"`,
		`c:\x`:              `"c:\\x"`,
		"50%":               "50%%",
		"$HOME":             "$$HOME",
		"":                  `""`,
	} {
		if got := unitQuote(in); got != want {
			t.Errorf("unitQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// systemdAnalyze finds systemd-analyze: CI must have it (.ci/run installs systemd); a
// developer's machine without it skips.
func systemdAnalyze(t *testing.T) string {
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze missing in CI: .ci/run must install systemd")
		}
		t.Skip("systemd-analyze not installed")
	}
	return p
}

// TestUnitVerify runs systemd-analyze verify on the packaged unit in a throwaway root
// that holds the executable, ExecReload's kill (procps, a dependency of the .deb) and
// the system's units; any complaint fails.
func TestUnitVerify(t *testing.T) {
	sa := systemdAnalyze(t)
	root := t.TempDir()
	exe := filepath.Join(root, "usr/bin/sscagent")
	kill := filepath.Join(root, "bin/kill")
	unit := filepath.Join(root, "etc/systemd/system/sscagent.service")
	for _, d := range []string{filepath.Dir(exe), filepath.Dir(kill), filepath.Dir(unit), filepath.Join(root, "usr/lib/systemd")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{exe, kill} {
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := Unit(Packaged)
	if err := os.WriteFile(unit, []byte(u), 0o644); err != nil {
		t.Fatal(err)
	}
	sys := "/usr/lib/systemd/system"
	if _, err := os.Stat(sys); err != nil {
		sys = "/lib/systemd/system"
	}
	if out, err := exec.Command("cp", "-a", sys, filepath.Join(root, "usr/lib/systemd/")).CombinedOutput(); err != nil {
		t.Fatalf("copy system units: %v %s", err, out)
	}
	out, err := exec.Command(sa, "verify", "--root="+root, unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestUnitSecurity: systemd-analyze security --offline scores the unit; docs/deploy.md
// records the score, and a change that weakens the sandbox past 2.0 fails here.
func TestUnitSecurity(t *testing.T) {
	sa := systemdAnalyze(t)
	u, _ := Unit(Packaged)
	path := filepath.Join(t.TempDir(), "sscagent.service")
	if err := os.WriteFile(path, []byte(u), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "security", "--offline=yes", "--no-pager", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for sscagent.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no score (%v):\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("exposure %.1f", score)
	if score > 2.0 {
		t.Fatalf("exposure %.1f above 2.0:\n%s", score, out)
	}
}

// TestMSIMatchesService: the MSI registers the service `sscagent service install`
// registers on Windows (packaging/windows/sscagent.wxs; make check-deploy checks the
// built MSI's ServiceInstall table).
func TestMSIMatchesService(t *testing.T) {
	wxs, err := os.ReadFile("../../packaging/windows/sscagent.wxs")
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(Spec{ConfigPath: "/c"}.arguments()[:3], " ")
	for _, want := range []string{
		`<ServiceInstall Id="SscagentService" Name="` + Name + `"`,
		`DisplayName="` + DisplayName + `"`,
		`Description="` + Description + `"`,
		`Start="auto"`, `Account="LocalSystem"`,
		`Arguments="` + args + ` &quot;[CommonAppDataFolder]sscagent\sscagent.yaml&quot;"`,
		`<ServiceControl Id="SscagentControl" Name="` + Name + `" Stop="both" Remove="uninstall"`,
	} {
		if !strings.Contains(string(wxs), want) {
			t.Errorf("sscagent.wxs lacks %s", want)
		}
	}
}
