package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/internal/pty"
	"github.com/sscagent/sscagent/internal/signing"
	"github.com/sscagent/sscagent/platform/platformsim"
)

// Layout of the scratch directory.
const (
	// MarkerFile marks a directory the demo created; it never clears a directory
	// without it.
	MarkerFile = ".sscagent-demo"
	// ConfigFile is the generated configuration, loaded with agent.LoadConfig.
	ConfigFile = "sscagent.yaml"
	// TokenFile is the local API's bearer token (mode 0600).
	TokenFile = "localapi.token"
	// LogFile receives the agent's and the sandbox's logs (masked).
	LogFile = "demo.log"
	// SandboxDir holds the sandbox's keys (platform, channel, SM4, TLS).
	SandboxDir = "sandbox"
	// StateDir is the agent's state directory (queue, payments, management).
	StateDir = "state"
	// ManagerKeyFile and ManagerPubFile are the demo's manager signing key pair: the
	// public key is pinned in the configuration (mgmt.managerKeys), so
	// "sscagent fleet --signing-key" with the private key manages the demo terminal.
	ManagerKeyFile = "manager.key.pem"
	ManagerPubFile = "manager.pub.pem"
)

// DefaultAPIAddr is the local API's address when none is given and it is free.
const DefaultAPIAddr = "127.0.0.1:8765"

// Terminal identity of the demo (the example configuration's test terminal).
const (
	TerminalID = "SSC-DEMO-0001"
	// Scene names of the generated configuration.
	SceneGate = "lobby-gate"
	ScenePOS  = "pharmacy-pos"
	// SceneMedical settles on the card in MedicalReader.
	SceneMedical = "clinic-medical"
	// ScannerName is the stdin scanner of the generated configuration (the gate's).
	ScannerName = "console"
	// CounterScanner is the payment scene's serial scanner on a pseudo-terminal.
	CounterScanner = "counter"
)

// EnvOptions configure Setup.
type EnvOptions struct {
	// Dir is the scratch directory. Empty: ".demo" in the working directory.
	Dir string
	// Keep reuses the keys and state a previous run left in Dir. Without it, a Dir
	// left by an earlier demo (it holds MarkerFile) is cleared first; a non-empty Dir
	// that the demo did not create is refused.
	Keep bool
	// ListenAPI is the local API's loopback address. Empty: DefaultAPIAddr, or a free
	// port when that one is taken.
	ListenAPI string
	// TelemetryInterval is the management telemetry period. Zero: 30s (the default).
	TelemetryInterval time.Duration
	// Profile is the platform profile both the sandbox and the agent speak: a built-in
	// name or a profile file (docs/platform-profiles.md). Empty: sscsim.
	Profile string
	// Logger receives the sandbox's and the broker's logs; nil discards them.
	Logger *slog.Logger
}

// Env is the demonstration environment around one agent: the sandbox platform, the
// management broker and the gate controller, all in this process on loopback, and the
// configuration file that points the agent at them.
type Env struct {
	// Dir is the scratch directory (absolute).
	Dir string
	// ConfigPath is the generated configuration file.
	ConfigPath string
	// Config is ConfigPath as agent.LoadConfig read it.
	Config agent.Config
	// Sandbox is the sandbox platform (HTTPS with its self-signed certificate).
	Sandbox *platformsim.Sandbox
	// Broker is the embedded MQTT broker standing in for terminal management.
	Broker *Broker
	// Gate is the gate controller's HTTP hook.
	Gate *GateHook
	// Token is the local API's bearer token.
	Token string
	// APIFallback is set when DefaultAPIAddr was taken and a free port is used instead.
	APIFallback bool
	// Counter is the master side of the counter scanner's pseudo-terminal, nil where
	// there are none (the payment scene then takes codes through the local API).
	Counter *os.File
	// CounterPort is the counter scanner's serial port (the pseudo-terminal's slave).
	CounterPort string
}

// Setup prepares the scratch directory, starts the sandbox, the broker and the gate
// hook, and writes and loads the configuration. Close stops what it started.
func Setup(ctx context.Context, o EnvOptions) (env *Env, err error) {
	dir, err := PrepareDir(o.Dir, o.Keep)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	env = &Env{Dir: dir, ConfigPath: filepath.Join(dir, ConfigFile)}
	defer func() {
		if err != nil {
			env.Close()
			env = nil
		}
	}()
	if env.Token, err = token(filepath.Join(dir, TokenFile)); err != nil {
		return env, err
	}
	if err = managerKey(dir); err != nil {
		return env, err
	}
	env.Sandbox, err = platformsim.Start(ctx, filepath.Join(dir, SandboxDir), platformsim.StartOptions{
		Options:  platformsim.Options{HSM: cardsim.HSM{}, Logger: log.With("component", "sandbox")},
		TestKeys: true,
		Profile:  o.Profile,
	})
	if err != nil {
		return env, fmt.Errorf("demo: sandbox platform: %w", err)
	}
	if env.Broker, err = StartBroker("127.0.0.1:0", log.With("component", "broker")); err != nil {
		return env, err
	}
	if env.Gate, err = StartGateHook(); err != nil {
		return env, err
	}
	if env.Counter, env.CounterPort, err = pty.Open(); err != nil {
		log.Info("no counter scanner: payments take the code through the local API", "err", err)
		env.Counter, env.CounterPort = nil, ""
	}
	api := o.ListenAPI
	if api == "" {
		api = DefaultAPIAddr
		if ln, err := net.Listen("tcp", api); err != nil {
			api, env.APIFallback = "127.0.0.1:0", true
		} else {
			ln.Close()
		}
	}
	tel := o.TelemetryInterval
	if tel <= 0 {
		tel = 30 * time.Second
	}
	if err := env.writeConfig(api, tel); err != nil {
		return env, err
	}
	if env.Config, err = agent.LoadConfig(env.ConfigPath); err != nil {
		return env, fmt.Errorf("demo: the generated configuration %s: %w", env.ConfigPath, err)
	}
	return env, nil
}

// Close stops the gate hook, the broker and the sandbox.
func (e *Env) Close() error {
	var errs []error
	if e.Counter != nil {
		errs = append(errs, e.Counter.Close())
	}
	if e.Gate != nil {
		errs = append(errs, e.Gate.Close())
	}
	if e.Broker != nil {
		errs = append(errs, e.Broker.Close())
	}
	if e.Sandbox != nil {
		errs = append(errs, e.Sandbox.Close())
	}
	return errors.Join(errs...)
}

// Remove deletes the scratch directory (after Close).
func (e *Env) Remove() error { return os.RemoveAll(e.Dir) }

// PrepareDir makes the scratch directory ready and returns its absolute path (empty
// dir: ".demo"): created with MarkerFile, or cleared first when an earlier demo left
// it and keep is false. A non-empty directory without the marker is refused, so a
// mistyped --dir never deletes anyone's files.
func PrepareDir(dir string, keep bool) (string, error) {
	if dir == "" {
		dir = ".demo"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("demo: %w", err)
	case len(ents) > 0:
		if _, err := os.Stat(filepath.Join(dir, MarkerFile)); err != nil {
			return "", fmt.Errorf("demo: %s is not empty and was not made by the demo (no %s); choose another --dir", dir, MarkerFile)
		}
		if !keep {
			if err := os.RemoveAll(dir); err != nil {
				return "", fmt.Errorf("demo: clear %s: %w", dir, err)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	marker := "This directory was made by `sscagent demo`; it clears and reuses it.\n"
	if err := os.WriteFile(filepath.Join(dir, MarkerFile), []byte(marker), 0o600); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return dir, nil
}

// token returns the token in path, creating a random one when it does not exist.
func token(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("demo: local API token: %w", err)
	}
	return tok, nil
}

// managerKey writes the demo's manager key pair into dir unless a kept run left one.
func managerKey(dir string) error {
	keyPath, pubPath := filepath.Join(dir, ManagerKeyFile), filepath.Join(dir, ManagerPubFile)
	if b, err := os.ReadFile(keyPath); err == nil {
		if _, err := signing.ParsePrivateKey(b); err == nil {
			if _, err := os.Stat(pubPath); err == nil {
				return nil
			}
		}
	}
	k, err := signing.Generate(signing.SM2)
	if err != nil {
		return fmt.Errorf("demo: manager key: %w", err)
	}
	priv, err := k.MarshalPEM()
	if err != nil {
		return fmt.Errorf("demo: manager key: %w", err)
	}
	pub, err := k.Public().MarshalPEM()
	if err != nil {
		return fmt.Errorf("demo: manager key: %w", err)
	}
	if err := os.WriteFile(keyPath, priv, 0o600); err != nil {
		return fmt.Errorf("demo: manager key: %w", err)
	}
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		return fmt.Errorf("demo: manager key: %w", err)
	}
	return nil
}

// writeConfig writes the configuration file, with paths relative to it.
func (e *Env) writeConfig(api string, telemetry time.Duration) error {
	pc := e.Sandbox.ClientConfig(platformsim.DefaultChannel, true)
	rel := func(p string) string {
		if r, err := filepath.Rel(e.Dir, p); err == nil {
			return filepath.ToSlash(r)
		}
		return p
	}
	v := map[string]any{
		"Terminal":      TerminalID,
		"StateDir":      StateDir,
		"BaseURL":       pc.BaseURL,
		"Profile":       pc.Profile,
		"Channel":       pc.ChannelNo,
		"PrivateKey":    rel(string(pc.PrivateKey)),
		"PublicKey":     rel(pc.PlatformPublicKey),
		"SM4Key":        rel(string(pc.SM4Key)),
		"CAFile":        rel(pc.CAFile),
		"Scanner":       ScannerName,
		"Counter":       CounterScanner,
		"CounterPort":   e.CounterPort,
		"Gate":          SceneGate,
		"POS":           ScenePOS,
		"Medical":       SceneMedical,
		"GateReader":    readers.SimCardReader,
		"MedicalReader": MedicalReader,
		"GateURL":       e.Gate.URL(),
		"API":           api,
		"Token":         TokenFile,
		"Broker":        e.Broker.URL(),
		"ManagerPub":    ManagerPubFile,
		"Telemetry":     telemetry.String(),
	}
	var b strings.Builder
	if err := configTemplate.Execute(&b, v); err != nil {
		return fmt.Errorf("demo: configuration: %w", err)
	}
	if err := os.WriteFile(e.ConfigPath, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("demo: configuration: %w", err)
	}
	return nil
}

// configTemplate is the demo's configuration: every field not set here takes the
// default documented in packaging/sscagent.example.yaml.
var configTemplate = template.Must(template.New("config").Parse(`# Generated by "sscagent demo" for this run; see packaging/sscagent.example.yaml for
# every field. Everything here is test equipment on loopback: the sandbox platform with
# test keys, virtual card readers, an embedded MQTT broker and a gate hook.
version: 1

terminal:
  id: {{.Terminal}}
  manufacturer: Demo Terminals Co.
  model: K-100
  institution: 示例市人力资源和社会保障局
  creditCode: 91350100M000100Y43
  region: "350100"
  site: 市民服务中心一楼 (demo)
  deviceType: kiosk
  cardModes: [card, ecard-scan, ecard-payment]
  # Accept the sandbox's test keys and the virtual cards.
  test: true

agent:
  stateDir: {{.StateDir}}
  shutdownTimeout: 5s

log:
  level: info
  format: text

# The sandbox platform running inside "sscagent demo", over HTTPS with its
# self-signed certificate.
platform:
  baseURL: {{.BaseURL}}
  channelNo: "{{.Channel}}"
  applicationNo: "02"
{{- if .Profile}}
  profile: {{.Profile}}
{{- end}}
  privateKey: {{.PrivateKey}}
  platformPublicKey: {{.PublicKey}}
  sm4Key: {{.SM4Key}}
  caFile: {{.CAFile}}
  timeout: 10s

# Prometheus metrics (docs/metrics.md) on a free loopback port; the banner shows it.
metrics:
  listen: 127.0.0.1:0

scanners:
  # The gate's scanner: standard input, a line is a code. In the demo its device is the
  # console (a line typed or pasted there that is not a :command is a scanned code).
  - name: {{.Scanner}}
    kind: stdin
    limits:
      dedupWindow: 1s
{{- if .CounterPort}}
  # The pharmacy counter's scanner: a serial (USB CDC) scanner, here a pseudo-terminal
  # the demo writes the codes to while an order waits for one.
  - name: {{.Counter}}
    kind: serial
    serial:
      port: {{.CounterPort}}
{{- end}}

scenes:
  # Gate: a card or an e-card code authenticates the holder, the gate opens, a C.3
  # credential record flows back to the platform.
  - name: {{.Gate}}
    kind: identity
    readers: ["{{.GateReader}}"]
    scanners: [{{.Scanner}}]
    gate:
      kind: http
      timeout: 2s
      http:
        url: {{.GateURL}}
  # Pharmacy counter: a payment created on the local API is paid with the next
  # e-card payment code scanned at the counter (or sent with the request); a C.4
  # record flows back.
  # Medical counter: the kiosk application settles on the holder's card in its own
  # reader with the holder's PIN (POST /v1/medical/settle): DF04's purse is debited
  # with MAC1 from the PSAM and a C.4 record flows back.
  - name: {{.Medical}}
    kind: medical
    label: 就医购药应用
    readers: ["{{.MedicalReader}}"]
  - name: {{.POS}}
    kind: payment
{{- if .CounterPort}}
    scanners: [{{.Counter}}]
{{- end}}
    payment:
      merchantName: 示例大药房

localapi:
  listen: {{.API}}
  tokenFile: {{.Token}}

mgmt:
  brokers: [{{.Broker}}]
  # The demo's manager key: sscagent fleet ... --signing-key manager.key.pem
  managerKeys: [{{.ManagerPub}}]
  telemetryInterval: {{.Telemetry}}
  reconnect:
    firstDelayMax: 1s

cards:
  driver: sim
  sim:
    cards: [zhangsan]
    psam: true
    readers: 2
`))
