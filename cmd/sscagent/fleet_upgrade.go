package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/release"
	"github.com/sscagent/sscagent/mgmt/fleet"
)

const fleetUpgradeSynopsis = "fleet upgrade --version V --artifact FILE [--artifact FILE...] --terminals SELECTOR " +
	"[--percent N | --list IDS [--list IDS...]] [--max-failures N] " +
	"(--serve ADDR --cert FILE --key FILE [--advertise URL] | --base-url URL) [connection flags] [--json]"

// artifact is one signed build the rollout offers.
type artifact struct {
	path   string
	name   string // the URL's last segment
	signed release.Signed
	m      release.Manifest
}

// loadArtifact reads FILE's manifest and signature and checks the file against the
// manifest, so that a build that terminals would refuse is not offered.
func loadArtifact(p, version string) (artifact, error) {
	s, err := release.ReadFiles(p)
	if err != nil {
		return artifact{}, err
	}
	m, err := release.Parse(s.Manifest)
	if err != nil {
		return artifact{}, fmt.Errorf("%s: %w", p, err)
	}
	if m.Version != version {
		return artifact{}, fmt.Errorf("%s: the manifest says version %s, not %s", p, m.Version, version)
	}
	f, err := os.Open(p)
	if err != nil {
		return artifact{}, err
	}
	defer f.Close()
	d := release.NewDigest()
	if _, err := io.Copy(d, f); err != nil {
		return artifact{}, err
	}
	if err := d.Check(m); err != nil {
		return artifact{}, fmt.Errorf("%s: %w (sign it again)", p, err)
	}
	return artifact{path: p, name: filepath.Base(p), signed: s, m: m}, nil
}

// artifactKey names what a terminal takes: "deb linux/arm64", "binary windows/amd64".
func artifactKey(kind, platform string) string { return kind + " " + platform }

// installOf is the artifact kind of a birth's software.install (older agents say
// nothing: binary).
func installOf(install string) string {
	if install == "" {
		return release.KindBinary
	}
	return install
}

// stages cuts ids into stages of pct percent each (at least one terminal).
func stages(ids []string, pct int) [][]string {
	n := max(1, (len(ids)*pct+99)/100)
	var out [][]string
	for len(ids) > 0 {
		k := min(n, len(ids))
		out = append(out, ids[:k])
		ids = ids[k:]
	}
	return out
}

// serveArtifacts serves the artifacts over HTTPS at /sscagent/SHA256/NAME until the
// returned function is called; it returns the base URL terminals use.
func serveArtifacts(addr, certFile string, keyFile config.SecretFile, advertise string, arts []artifact) (string, func(), error) {
	keyPEM, err := keyFile.Read()
	if err != nil {
		return "", nil, err
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return "", nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return "", nil, fmt.Errorf("--cert/--key: %w", err)
	}
	files := map[string]string{}
	for _, a := range arts {
		files["/sscagent/"+a.m.SHA256+"/"+a.name] = a.path
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := files[r.URL.Path]
			if !ok || r.Method != http.MethodGet && r.Method != http.MethodHead {
				http.NotFound(w, r)
				return
			}
			f, err := os.Open(p)
			if err != nil {
				http.Error(w, "artifact unavailable", http.StatusInternalServerError)
				return
			}
			defer f.Close()
			st, _ := f.Stat()
			http.ServeContent(w, r, path.Base(p), st.ModTime(), f)
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }() // ends with Close
	base := advertise
	if base == "" {
		base = "https://" + ln.Addr().String()
	}
	return strings.TrimRight(base, "/"), func() { _ = srv.Close() }, nil
}

func fleetUpgrade(args []string, out, errOut io.Writer) int {
	fs := newFlags("fleet upgrade", fleetUpgradeSynopsis, errOut)
	ff := newFleetFlags(fs)
	ver := fs.String("version", "", "the version to roll out (the artifacts' manifests must say it)")
	var arts, lists listFlag
	fs.Var(&arts, "artifact", "a signed sscagent build or .deb/.rpm, FILE.manifest and FILE.manifest.sig beside it (release sign); "+
		"one per kind and platform, repeatable: each terminal gets the kind its birth's software.install says (binary, deb, rpm)")
	selector := fs.String("terminals", "", "terminal ids and globs, comma-separated (\"KIOSK-*,GATE-0001\")")
	pct := fs.Int("percent", 100, "stage size in percent of the terminals selected: 10 upgrades 10% at a time")
	fs.Var(&lists, "list", "one stage's terminal ids, comma-separated; repeat for the next stages (instead of --percent)")
	maxFail := fs.Int("max-failures", 1, "stop after the stage in which this many terminals failed")
	serve := fs.String("serve", "", "serve the artifacts over HTTPS on this address (with --cert and --key)")
	cert := fs.String("cert", "", "the file server's TLS certificate (PEM; terminals trust its CA in upgrade.caFile)")
	key := fs.String("key", "", "its private key (PEM, mode 0600)")
	advertise := fs.String("advertise", "", "the file server's URL as terminals reach it (default https://ADDR)")
	baseURL := fs.String("base-url", "", "instead of --serve: an HTTPS server that has each artifact at BASE/FILENAME")
	cmdTimeout := fs.Duration("command-timeout", 5*time.Minute, "the download's time limit on a terminal (at most 10m)")
	stageTimeout := fs.Duration("stage-timeout", 0, "bound on one stage (default command-timeout + 10m)")
	if rc := cli.ParseArgs(fs, args, 0, 0); rc >= 0 {
		return rc
	}
	usage := func(msg string) int { fmt.Fprintln(errOut, msg); fs.Usage(); return cli.ExitUsage }
	switch {
	case *ver == "" || len(arts) == 0:
		return usage("--version and --artifact are required")
	case *selector == "" && len(lists) == 0:
		return usage("--terminals (or --list) is required")
	case len(lists) > 0 && *pct != 100:
		return usage("--percent and --list exclude each other")
	case *pct < 1 || *pct > 100:
		return usage("--percent must be between 1 and 100")
	case (*serve == "") == (*baseURL == ""):
		return usage("give either --serve ADDR (with --cert and --key) or --base-url URL")
	case *serve != "" && (*cert == "" || *key == ""):
		return usage("--serve needs --cert and --key")
	}
	if *baseURL != "" {
		if u, err := url.Parse(*baseURL); err != nil || u.Scheme != "https" {
			return usage("--base-url must be an https:// URL")
		}
	}
	byPlatform := map[string]artifact{} // by artifactKey
	var all []artifact
	for _, p := range arts {
		a, err := loadArtifact(p, *ver)
		if err != nil {
			fmt.Fprintf(errOut, "sscagent fleet upgrade: %v\n", err)
			return cli.ExitFail
		}
		k := artifactKey(a.m.Kind, a.m.Platform())
		if _, dup := byPlatform[k]; dup {
			return usage("two artifacts for " + k)
		}
		byPlatform[k] = a
		all = append(all, a)
	}
	ctx, c, done, err := ff.open(errOut)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	defer done()
	var plan [][]string
	if len(lists) > 0 {
		for _, l := range lists {
			ids, err := c.Resolve(ctx, strings.Split(l, ","))
			if err != nil {
				fmt.Fprintf(errOut, "--list %s: %v\n", l, err)
				return cli.ExitFail
			}
			plan = append(plan, ids)
		}
	} else {
		ids, err := c.Resolve(ctx, strings.Split(*selector, ","))
		if err != nil {
			fmt.Fprintf(errOut, "--terminals: %v\n", err)
			return cli.ExitFail
		}
		plan = stages(ids, *pct)
	}
	base := *baseURL
	if *serve != "" {
		var stop func()
		if base, stop, err = serveArtifacts(*serve, *cert, config.SecretFile(*key), *advertise, all); err != nil {
			fmt.Fprintf(errOut, "sscagent fleet upgrade: file server: %v\n", err)
			return cli.ExitFail
		}
		defer stop()
	}
	argsFor := func(t fleet.Terminal) (json.RawMessage, error) {
		a, ok := artifact{}, false
		if sw := t.State.Software; sw != nil && sw.Platform != "" {
			k := artifactKey(installOf(sw.Install), sw.Platform)
			a, ok = byPlatform[k]
			if !ok {
				return nil, fmt.Errorf("no artifact for %s", k)
			}
		} else if len(all) == 1 {
			a, ok = all[0], true // an older agent does not say; the terminal checks
		}
		if !ok {
			return nil, errors.New("the terminal does not report its platform; give one artifact only")
		}
		u := base + "/" + a.name
		if *serve != "" {
			u = base + "/sscagent/" + a.m.SHA256 + "/" + a.name
		}
		return json.Marshal(release.Command{URL: u, Signed: a.signed})
	}
	opts := fleet.UpgradeOptions{Version: *ver, Args: argsFor, Stages: plan, MaxFailures: *maxFail,
		CommandTimeout: *cmdTimeout, StageTimeout: *stageTimeout}
	if !ff.json {
		fmt.Fprintf(errOut, "upgrade to %s: %d stage(s), artifacts at %s\n", *ver, len(plan), base)
		opts.Progress = func(r fleet.UpgradeResult) { fmt.Fprintln(out, upgradeLine(r)) }
	}
	res, err := c.Upgrade(ctx, opts)
	if ff.json {
		writeJSON(out, res)
	}
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	bad := 0
	for _, r := range res {
		if !r.OK() {
			bad++
		}
	}
	if bad > 0 {
		fmt.Fprintf(errOut, "%d of %d terminals do not run %s\n", bad, len(res), *ver)
		return cli.ExitFail
	}
	return cli.ExitOK
}

// upgradeLine is one terminal's outcome for people.
func upgradeLine(r fleet.UpgradeResult) string {
	s := fmt.Sprintf("stage %d  %s: %s", r.Stage, r.ID, r.Status)
	if r.From != "" && r.Status == fleet.UpgradeDone {
		s += fmt.Sprintf(" %s -> %s", r.From, r.Version)
	}
	if r.Status == fleet.UpgradeFailed {
		s += " (rolled back)"
	}
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	if r.Code != "" && !strings.Contains(r.Reason, r.Code) {
		s += " [" + r.Code + "]"
	}
	return s
}
