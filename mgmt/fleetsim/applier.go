package fleetsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// BaseConfig returns a valid configuration file for terminal id whose platform is at
// platformURL and whose state lives in stateDir.
func BaseConfig(id, platformURL, stateDir string) string {
	return fmt.Sprintf(`version: 1
terminal:
  id: %s
  manufacturer: Test Terminals Co.
  model: T-1
  institution: 示例市人力资源和社会保障局
  creditCode: 91350100M000100Y43
  region: "350100"
  site: 测试网点
  deviceType: kiosk
  cardModes: [card, ecard-scan]
  test: true
agent:
  stateDir: %s
log:
  level: info
platform:
  baseURL: %s
  channelNo: "350100000001"
  privateKey: keys/channel.key.pem
  platformPublicKey: keys/platform.pub.pem
  sm4Key: keys/sm4.key
  timeout: 5s
localapi:
  tokenFile: keys/localapi.token
`, id, stateDir, platformURL)
}

// Applier is a rollout.Applier over a real configuration file.
type Applier struct {
	// Path is the configuration file.
	Path string
	// Client makes the health probe's request; nil: http.DefaultClient. Set before use.
	// The terminals of a fleet (Start) share one that answers the fleet's own platform
	// in process.
	Client *http.Client

	mu      sync.Mutex // guards the fields below
	running agent.Config
	doc     []byte
	applies int
	fail    error
	failOn  func(agent.Config) error
}

var _ rollout.Applier = (*Applier)(nil)

// NewApplier writes base to a file in dir and returns an Applier running the file alone.
func NewApplier(dir, base string) (*Applier, error) {
	p := filepath.Join(dir, "sscagent.yaml")
	if err := os.WriteFile(p, []byte(base), 0o600); err != nil {
		return nil, err
	}
	cfg, err := agent.LoadConfig(p)
	if err != nil {
		return nil, fmt.Errorf("base configuration: %w", err)
	}
	return &Applier{Path: p, running: cfg}, nil
}

// Validate implements rollout.Applier: the file's rules, and the effective
// configuration as canonical JSON.
func (a *Applier) Validate(doc []byte) ([]byte, error) {
	cfg, err := agent.LoadConfigOverlay(a.Path, doc)
	if err != nil {
		return nil, err
	}
	return json.Marshal(cfg)
}

// Apply implements rollout.Applier: the document becomes the running configuration,
// unless FailApplyIf says otherwise.
func (a *Applier) Apply(ctx context.Context, doc []byte) error {
	cfg, err := agent.LoadConfigOverlay(a.Path, doc)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applies++
	if a.failOn != nil {
		if err := a.failOn(cfg); err != nil {
			return err
		}
	}
	a.running, a.doc = cfg, append([]byte(nil), doc...)
	return nil
}

// Health implements rollout.Applier: the forced failure if set, else the platform
// answers an HTTP request at the running platform.baseURL.
func (a *Applier) Health(ctx context.Context) error {
	a.mu.Lock()
	fail, url := a.fail, a.running.Platform.BaseURL
	a.mu.Unlock()
	if fail != nil {
		return fail
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	hc := a.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("platform unreachable: %w", err)
	}
	resp.Body.Close()
	return nil
}

// Running returns the running configuration and the document it came from.
func (a *Applier) Running() (agent.Config, []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.running, a.doc
}

// Applies counts Apply calls (rollbacks included).
func (a *Applier) Applies() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applies
}

// SetHealth forces Health to fail with err (nil: probe the platform again).
func (a *Applier) SetHealth(err error) {
	a.mu.Lock()
	a.fail = err
	a.mu.Unlock()
}

// FailApplyIf makes Apply fail when fn returns an error for the configuration.
func (a *Applier) FailApplyIf(fn func(agent.Config) error) {
	a.mu.Lock()
	a.failOn = fn
	a.mu.Unlock()
}

// ErrUnhealthy is a health failure tests can force.
var ErrUnhealthy = errors.New("PSAM absent (forced by the test)")
