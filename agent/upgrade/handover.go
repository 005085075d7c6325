package upgrade

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sscagent/sscagent/internal/atomicfile"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/internal/release"
	"github.com/sscagent/sscagent/internal/version"
)

// A terminal installed from a package (.deb, .rpm) is upgraded with a package, by the
// root helper (`sscagent upgrade apply`, agent/upgrade/helper, the systemd units
// sscagent-upgrade.path and .service): the agent, which runs unprivileged and cannot
// write /usr/bin, verifies and downloads the package as for a binary, then hands it
// over through files in STATEDIR/upgrade/package:
//
//	staged       the downloaded package (the agent's)
//	request.json the signed manifest (the agent's, written last: its appearance starts the helper)
//	healthy      "healthy VERSION" once the restarted agent is healthy (the agent's)
//	result.json  the outcome (the helper's)
//
// The helper trusts none of it: it re-verifies the manifest against the release keys
// of the root-owned configuration file and installs a copy of the package it checked.
const (
	HandoverDir = "upgrade/package" // under the state directory
	RequestFile = "request.json"
	StagedFile  = "staged"
	HealthFile  = "healthy"
	ResultFile  = "result.json"
)

// InstallMarker is the file, relative to the executable's directory, in which the
// packages say how they installed the agent ("deb" or "rpm"): /usr/lib/sscagent/install
// for /usr/bin/sscagent.
const InstallMarker = "../lib/sscagent/install"

// InstallKind says how the executable exe was installed: release.KindDeb or KindRPM
// when its package's marker says so, else release.KindBinary.
func InstallKind(exe string) string {
	if exe == "" {
		return release.KindBinary
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(exe), InstallMarker))
	if k := strings.TrimSpace(string(b)); err == nil && release.IsPackage(k) {
		return k
	}
	return release.KindBinary
}

// Request is the agent's hand-over: the command's signed manifest, and the version
// that runs (which the helper checks against the installed package).
type Request struct {
	release.Signed
	From string `json:"from"`
}

// Outcomes in a Result.
const (
	OutcomeDone    = "done"    // installed, and the new version reported healthy
	OutcomeFailed  = "failed"  // installed, not healthy in time: the previous package was reinstalled
	OutcomeRefused = "refused" // not installed (verification, metadata, dpkg/rpm refused it)
)

// Result is the helper's outcome of one request.
type Result struct {
	To      string      `json:"to"`
	Outcome string      `json:"outcome"`
	Reason  string      `json:"reason,omitempty"`
	Code    prompt.Code `json:"code,omitempty"`
	// Rollback names the package reinstalled after a failure, or why there was none.
	Rollback string `json:"rollback,omitempty"`
}

// maxHandover bounds the JSON files of the hand-over.
const maxHandover = 16 << 10

// ParseRequest reads a request strictly (known fields only, one object).
func ParseRequest(b []byte) (Request, error) {
	var r Request
	if err := strictJSON(b, &r); err != nil {
		return Request{}, fmt.Errorf("upgrade request: %w", err)
	}
	if len(r.Manifest) == 0 || len(r.Signature) == 0 {
		return Request{}, errors.New("upgrade request: no manifest or signature")
	}
	return r, nil
}

// ParseResult reads a result strictly.
func ParseResult(b []byte) (Result, error) {
	var r Result
	if err := strictJSON(b, &r); err != nil {
		return Result{}, fmt.Errorf("upgrade result: %w", err)
	}
	switch r.Outcome {
	case OutcomeDone, OutcomeFailed, OutcomeRefused:
	default:
		return Result{}, fmt.Errorf("upgrade result: outcome %q", r.Outcome)
	}
	return r, nil
}

func strictJSON(b []byte, v any) error {
	if len(b) > maxHandover {
		return fmt.Errorf("%d bytes (at most %d)", len(b), maxHandover)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the object")
	}
	return nil
}

// ParseHealth reads the version a health file reports ("healthy VERSION").
func ParseHealth(b []byte) (string, bool) {
	s, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "healthy ")
	return s, ok && s != "" && !strings.ContainsAny(s, " \n")
}

func handoverPath(stateDir, name string) string { return filepath.Join(stateDir, HandoverDir, name) }

// handOver writes the request beside the staged package (the helper's trigger).
func handOver(stateDir string, r Request) error {
	for _, f := range []string{ResultFile, HealthFile} {
		if err := os.Remove(handoverPath(stateDir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	b, _ := json.Marshal(r)
	return atomicfile.Write(handoverPath(stateDir, RequestFile), b, 0o644)
}

// writeHealth tells the helper that this build is healthy.
func writeHealth(stateDir string) error {
	return atomicfile.Write(handoverPath(stateDir, HealthFile), []byte("healthy "+version.Get().Version+"\n"), 0o644)
}

// readResult returns the helper's result for version to, if there is one.
func readResult(stateDir, to string) (Result, bool, error) {
	b, err := os.ReadFile(handoverPath(stateDir, ResultFile))
	if errors.Is(err, os.ErrNotExist) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	r, err := ParseResult(b)
	if err != nil {
		return Result{}, false, err
	}
	return r, r.To == to, nil
}

// clearHandover removes the files of a hand-over that is over.
func clearHandover(stateDir string) {
	for _, f := range []string{RequestFile, StagedFile} {
		_ = os.Remove(handoverPath(stateDir, f))
	}
}
