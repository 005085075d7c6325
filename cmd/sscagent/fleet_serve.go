package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/mgmt/console"
)

// serveFile is the console's settings file (--config, docs/fleet-console.md); a flag
// given on the command line wins over the file.
type serveFile struct {
	Listen     string          `yaml:"listen"`
	TLS        serveTLS        `yaml:"tls"`
	TokenFiles []string        `yaml:"tokenFiles"`
	Manager    string          `yaml:"manager"`
	Audit      string          `yaml:"audit"`
	StaleAfter config.Duration `yaml:"staleAfter"`
	Broker     serveBroker     `yaml:"broker"`
	// SigningKey is the manager key that signs rollouts and commands (--signing-key).
	SigningKey string `yaml:"signingKey"`
}

type serveTLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

type serveBroker struct {
	URL          string `yaml:"url"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"passwordFile"`
	CAFile       string `yaml:"caFile"`
	CertFile     string `yaml:"certFile"`
	KeyFile      string `yaml:"keyFile"`
	ServerName   string `yaml:"serverName"`
	Prefix       string `yaml:"prefix"`
}

// listFlag is a flag that may be repeated.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func fleetServe(args []string, out, errOut io.Writer) int {
	fs := newFlags("fleet serve", "fleet serve [--config FILE] [--listen ADDR] [--cert FILE --key FILE] --token-file FILE... --audit FILE [connection flags]", errOut)
	ff := newFleetFlags(fs)
	ff.publishes = true
	cfgFile := fs.String("config", "", "console settings file (YAML, docs/fleet-console.md); flags win over it")
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on; plain HTTP only on loopback")
	cert := fs.String("cert", "", "HTTPS certificate (PEM)")
	key := fs.String("key", "", "HTTPS private key (PEM, mode 0600)")
	var tokens listFlag
	fs.Var(&tokens, "token-file", "manager token file (mode 0600, one line of 16+ characters); the manager is named after the file (alice.token: alice); repeat for several managers")
	manager := fs.String("manager", "", "the manager's name for a single --token-file (default: the file's name)")
	audit := fs.String("audit", "", "audit log file (JSON lines), appended to; required")
	fs.DurationVar(&ff.o.StaleAfter, "stale-after", 3*time.Minute, "telemetry older than this marks a terminal stale")
	if rc := cli.ParseArgs(fs, args, 0, 0); rc >= 0 {
		return rc
	}
	if *cfgFile != "" {
		var fc serveFile
		if err := config.LoadFile(*cfgFile, &fc); err != nil {
			fmt.Fprintf(errOut, "--config %s: %v\n", *cfgFile, err)
			return cli.ExitUsage
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		take := func(name string, dst *string, v string) {
			if v != "" && !set[name] {
				*dst = v
			}
		}
		take("listen", listen, fc.Listen)
		take("cert", cert, fc.TLS.Cert)
		take("key", key, fc.TLS.Key)
		take("manager", manager, fc.Manager)
		take("audit", audit, fc.Audit)
		take("broker", ff.broker, fc.Broker.URL)
		take("username", &ff.o.Username, fc.Broker.Username)
		take("password-file", ff.pwFile, fc.Broker.PasswordFile)
		take("ca-file", &ff.o.CAFile, fc.Broker.CAFile)
		take("cert-file", &ff.o.CertFile, fc.Broker.CertFile)
		take("key-file", ff.key, fc.Broker.KeyFile)
		take("server-name", &ff.o.ServerName, fc.Broker.ServerName)
		take("prefix", &ff.o.Prefix, fc.Broker.Prefix)
		take("signing-key", ff.signKey, fc.SigningKey)
		if !set["token-file"] {
			tokens = fc.TokenFiles
		}
		if fc.StaleAfter > 0 && !set["stale-after"] {
			ff.o.StaleAfter = fc.StaleAfter.D()
		}
	}
	managers, err := loadManagers(tokens, *manager)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitUsage
	}
	if *audit == "" {
		fmt.Fprintln(errOut, "--audit is required: every change made through the console is logged")
		return cli.ExitUsage
	}
	if (*cert == "") != (*key == "") {
		fmt.Fprintln(errOut, "--cert and --key go together")
		return cli.ExitUsage
	}
	if err := console.CheckListen(*listen, *cert != ""); err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitUsage
	}
	al, err := console.OpenAudit(*audit)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	defer al.Close()
	ctx, c, done, err := ff.open(errOut)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	defer done()
	srv, err := console.New(console.Options{Fleet: c, Managers: managers, Audit: al, StaleAfter: ff.o.StaleAfter,
		Log: slog.New(slog.NewTextHandler(errOut, nil))})
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	err = srv.Serve(ctx, console.ServeOptions{Listen: *listen, CertFile: *cert, KeyFile: *key,
		Ready: func(addr string) { fmt.Fprintf(out, "fleet console on %s (broker %s)\n", addr, *ff.broker) }})
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	return cli.ExitOK
}

func loadManagers(files []string, name string) ([]console.Manager, error) {
	if len(files) == 0 {
		return nil, errors.New("--token-file is required: managers log in with a token")
	}
	if name != "" && len(files) > 1 {
		return nil, errors.New("--manager names the manager of a single --token-file; with several, each is named after its file")
	}
	var ms []console.Manager
	seen := map[string]bool{}
	for _, f := range files {
		m, err := console.LoadManager(config.SecretFile(f), name)
		if err != nil {
			return nil, err
		}
		if seen[m.Name] {
			return nil, fmt.Errorf("two token files name manager %q", m.Name)
		}
		seen[m.Name] = true
		ms = append(ms, m)
	}
	return ms, nil
}
