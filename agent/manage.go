package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/sscagent/sscagent/agent/upgrade"
	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/logging"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/rollout"
	"github.com/sscagent/sscagent/qrscan"
	"github.com/sscagent/sscagent/queue"
	"github.com/sscagent/sscagent/queue/backflow"
)

// applier is the agent as terminal management's rollout sees it.
type applier struct{ a *Agent }

var _ rollout.Applier = applier{}

// Validate implements rollout.Applier: the file's rules over the document, and the
// effective configuration as canonical JSON.
func (ap applier) Validate(doc []byte) ([]byte, error) {
	cfg, err := ap.a.load(doc)
	if err != nil {
		return nil, err
	}
	return json.Marshal(cfg)
}

// Apply implements rollout.Applier: the document over the file becomes the running
// configuration.
func (ap applier) Apply(ctx context.Context, doc []byte) error {
	cfg, err := ap.a.load(doc)
	if err != nil {
		return err
	}
	if err := ap.a.apply(ctx, cfg); err != nil {
		return err
	}
	ap.a.mu.Lock()
	ap.a.doc = append([]byte(nil), doc...)
	ap.a.mu.Unlock()
	return nil
}

// Health implements rollout.Applier.
func (ap applier) Health(ctx context.Context) error { return ap.a.Health(ctx) }

// restartSections are the settings that only a new process applies: the stores and the
// management session live as long as the process.
func restartSections(old, cfg Config) []string {
	var out []string
	for _, s := range []struct {
		name string
		x, y any
	}{
		{"version", old.Version, cfg.Version}, {"agent", old.Agent, cfg.Agent}, {"log.format", old.Log.Format, cfg.Log.Format},
		{"terminal", old.Terminal, cfg.Terminal}, {"mgmt", old.Mgmt, cfg.Mgmt}, {"queue", old.Queue, cfg.Queue},
		{"payment", old.Payment, cfg.Payment}, {"metrics", old.Metrics, cfg.Metrics}, {"upgrade", old.Upgrade, cfg.Upgrade},
	} {
		if !reflect.DeepEqual(s.x, s.y) {
			out = append(out, s.name)
		}
	}
	return out
}

// Reload re-reads the configuration file (with the remote document committed over it)
// and applies it like a remote configuration: the parts it affects are rebuilt. An
// invalid file changes nothing.
func (a *Agent) Reload(ctx context.Context) error {
	if a.path == "" {
		return errors.New("agent: reload: no configuration file")
	}
	a.mu.Lock()
	doc := a.doc
	a.mu.Unlock()
	cfg, err := a.load(doc)
	if err != nil {
		return err
	}
	return a.apply(ctx, cfg)
}

// apply makes cfg the running configuration. Applying the running configuration
// changes nothing. The log level changes at once; the parts whose settings changed are
// built first (a configuration that cannot be built changes nothing), then the old ones
// stop (producers first) and the new ones start. Settings only a new process applies
// restart the agent through Options.Restart.
func (a *Agent) apply(ctx context.Context, cfg Config) error {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	a.mu.Lock()
	old, g, running := a.cfg, a.gen, a.ran
	a.mu.Unlock()
	if reflect.DeepEqual(old, cfg) {
		return nil
	}
	if secs := restartSections(old, cfg); len(secs) > 0 {
		if a.restart == nil {
			return fmt.Errorf("agent: %s changed: these settings need a restart of the agent, which is not available here", strings.Join(secs, ", "))
		}
		a.log.Info("configuration changes settings a restart applies; restarting", "sections", secs)
		a.restart("configuration changed: " + strings.Join(secs, ", "))
		return nil
	}
	if !running {
		return errors.New("agent: apply before Run")
	}
	if l, err := logging.ParseLevel(cfg.Log.Level); err == nil {
		a.level.Set(l)
	}
	client := a.link.client()
	if !reflect.DeepEqual(old.Platform, cfg.Platform) {
		c, err := a.newClient(cfg)
		if err != nil {
			return err
		}
		client = c
	}
	ng, err := a.build(cfg, g)
	if err != nil {
		if client != a.link.client() {
			client.Close()
		}
		return err
	}
	ch := changedGroups(old, cfg)
	var affected []group
	for _, gr := range allGroups {
		if ch[gr] {
			affected = append(affected, gr)
		}
	}
	if err := g.stop(ctx, a.sup, affected); err != nil {
		a.log.Warn("apply: parts slow to stop", "err", err)
	}
	if prev := a.link.client(); client != prev {
		a.link.c.Store(client)
		prev.Close()
	}
	a.mu.Lock()
	a.cfg, a.gen = cfg, ng
	a.mu.Unlock()
	ng.start(a.sup, affected)
	names := make([]string, len(affected))
	for i, gr := range affected {
		names[i] = groupNames[gr]
	}
	a.log.Info("configuration applied", "rebuilt", names)
	a.emit(KindApplied, "", "", true, CodeApplied, "", map[string]any{"rebuilt": names})
	return nil
}

// Health is the health gate of a remote configuration: the holder readers are there,
// a PSAM in its slot is usable (or, without one, the HSM two-step is on), and the
// platform answers a signed round trip with the running settings.
func (a *Agent) Health(ctx context.Context) error {
	a.mu.Lock()
	cfg, g := a.cfg, a.gen
	a.mu.Unlock()
	var problems []string
	if g.cards != nil {
		h := g.cards.Health()
		switch {
		case !h.Service:
			problems = append(problems, "card reader service unavailable: "+h.LastError)
		case h.HolderReaders == 0:
			problems = append(problems, "no holder-card reader attached")
		}
		switch {
		case h.PSAM.Present && !h.PSAM.Usable:
			problems = append(problems, fmt.Sprintf("PSAM in %s not usable: %s", h.PSAM.Reader, h.PSAM.Error))
		case !h.PSAM.Present && !cfg.Cards.HSM.Enabled:
			problems = append(problems, "no PSAM and the HSM two-step is off: cards cannot be authenticated")
		}
	}
	if err := a.link.health(ctx, cfg.Terminal.ID); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// newMgmt builds the management session with the agent's Source and commands.
func (a *Agent) newMgmt(cfg Config) (*mgmt.Session, error) {
	scenes := make([]mgmt.Scene, len(cfg.Scenes))
	for i, s := range cfg.Scenes {
		scenes[i] = mgmt.Scene{Name: s.Name, Kind: string(s.Kind)}
	}
	cmds := map[string]mgmt.Command{
		mgmt.CmdQueueStats: mgmt.CommandFunc(func(context.Context, json.RawMessage) (any, error) { return a.queueStats(), nil }),
		mgmt.CmdQueueFlush: mgmt.CommandFunc(func(context.Context, json.RawMessage) (any, error) {
			a.uploader().Flush()
			st, err := a.queue.Stats()
			return map[string]any{"flushing": true, "queue": st}, err
		}),
		mgmt.CmdReaderRescan: mgmt.CommandFunc(a.rescan),
	}
	if a.upgrade != nil {
		cmds[upgrade.CmdName] = a.upgrade
	}
	if a.path != "" {
		cmds[mgmt.CmdReload] = mgmt.CommandFunc(func(ctx context.Context, _ json.RawMessage) (any, error) {
			if err := a.Reload(ctx); err != nil {
				return nil, err
			}
			return map[string]any{"reloaded": true}, nil
		})
	}
	profile := "sscsim"
	if c := a.link.client(); c != nil {
		profile = c.Profile().Name
	}
	s, err := mgmt.New(mgmt.Options{Config: cfg.Mgmt, Identity: cfg.Terminal, Scenes: scenes, StateDir: cfg.Agent.StateDir,
		Platform: &mgmt.PlatformInfo{ChannelNo: cfg.Platform.ChannelNo, Profile: profile}, Install: a.install(),
		Source: mgmt.SourceFunc(a.devices), Events: a.events, Rollout: a.rollout, Level: a.level, Restart: a.restart,
		Commands: cmds, Diagnostics: func(context.Context) map[string]any {
			return map[string]any{"status": a.status(time.Now())}
		}, Logger: a.log.With("component", "mgmt")})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return s, nil
}

// uploader returns the running uploader.
func (a *Agent) uploader() *backflow.Uploader {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen.uploader
}

// rescan restarts the card reader manager: it enumerates the readers and opens the
// PSAM anew (readers.rescan), and answers the readers it found.
func (a *Agent) rescan(ctx context.Context, _ json.RawMessage) (any, error) {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	a.mu.Lock()
	g := a.gen
	a.mu.Unlock()
	if g.cards == nil {
		return nil, errors.New("no scene takes cards on this terminal")
	}
	// The scenes stop too: started again once the readers are listed, they take the
	// cards already in the readers as there before (nothing is read twice).
	if err := g.stop(ctx, a.sup, []group{groupCards, groupInputs}); err != nil {
		return nil, err
	}
	g.start(a.sup, []group{groupCards})
	defer g.start(a.sup, []group{groupInputs})
	// The manager reports the service at once and the readers when it has listed them;
	// wait for the list to settle (or for the service, at most 5 s).
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last, stable := -1, 0
	for {
		h := g.cards.Health()
		n := len(h.Readers)
		if h.Service && n == last {
			stable++
		} else {
			stable = 0
		}
		last = n
		if stable >= 3 || ctx.Err() != nil {
			return h, nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
}

// devices is terminal management's Source: the parts' counters, no device probed.
func (a *Agent) devices(context.Context) mgmt.Devices {
	st := a.status(time.Now())
	var d mgmt.Devices
	if h := st.Cards; h != nil {
		for _, r := range h.Readers {
			d.Readers = append(d.Readers, mgmt.Reader{Name: r.Name, Role: string(r.Role), Present: true, Card: r.Present})
		}
		if h.PSAM.Present || h.PSAM.Reader != "" {
			p := mgmt.PSAM{Reader: h.PSAM.Reader, Status: "error", TerminalNo: h.PSAM.TerminalNo, LastError: h.PSAM.Error}
			if h.PSAM.Usable {
				p.Status = mgmt.PSAMOK
			}
			d.PSAMs = append(d.PSAMs, p)
		}
	}
	for _, s := range st.Scanners {
		d.Scanners = append(d.Scanners, mgmt.Scanner{Name: s.Name, Connected: s.Connected, Scans: s.Scans,
			BadInput: s.BadInput(), LastError: s.LastError})
	}
	q := st.Queue.Queue
	var depth int64
	var oldest float64
	for _, l := range []queue.Lane{queue.LaneMoney, queue.LaneIdentity, queue.LaneTelemetry} {
		depth += q.Lanes[l].Depth
		oldest = max(oldest, q.Lanes[l].OldestAgeSeconds)
	}
	d.Queue = &mgmt.Queue{Depth: int(depth), OldestAgeSeconds: oldest, Quarantined: int(q.Quarantined), Bytes: q.UsedBytes}
	d.Payments = &mgmt.Payments{Open: st.Queue.Payments.Open, NeedsManual: st.Queue.Payments.NeedsManual}
	p := mgmt.Platform{Up: st.Platform.Up, Unknown: st.Platform.Unknown, LastError: st.Platform.LastError,
		ClockSkewSeconds: st.Platform.ClockSkewSeconds}
	if !st.Platform.LastSuccess.IsZero() {
		t := st.Platform.LastSuccess
		p.LastOK = &t
	}
	d.Platform = &p
	for _, ps := range st.Parts {
		d.Parts = append(d.Parts, mgmt.Part{Name: ps.Name, State: ps.State, Restarts: ps.Restarts, LastError: ps.LastError})
	}
	return d
}

// readerEvent forwards the card reader manager's events to the bus (masked: they carry
// no personal data), with a prompt where a person has something to do.
func (a *Agent) readerEvent(e readers.Event) {
	ok := true
	code := prompt.CodeOK
	cause := ""
	data := map[string]any{"role": string(e.Role)}
	switch e.Kind {
	case readers.ServiceDown, readers.PSAMFailed:
		ok = false
		ce := card.AsError(string(e.Kind), e.Err)
		code, cause = ce.PromptCode(), ce.Error()
	case readers.ReaderRemoved:
		ok, code = false, card.PromptNoReader
		if e.Role == readers.RolePSAM {
			code = card.CodeNoPSAM.Prompt()
		}
	case readers.PSAMRemoved:
		ok, code = false, card.CodeNoPSAM.Prompt()
	}
	if e.PSAM != nil {
		data["terminalNo"] = e.PSAM.TerminalNo
	}
	if e.Carried {
		data["carried"] = true // in the reader since before the service restarted: not read again
	}
	a.logCause(event.Kind(e.Kind), e.Reader, ok, code, cause)
	a.events.Publish(event.Event{Kind: event.Kind(e.Kind), Time: e.Time, Source: e.Reader, OK: ok,
		Prompts: promptsOf(code), Data: data})
}

// scannerStatus publishes a scanner's connection changes.
func (a *Agent) scannerStatus(s qrscan.Status) {
	if s.Connected {
		a.emit(KindScannerUp, "", s.Scanner, true, prompt.CodeOK, "", nil)
		return
	}
	cause := ""
	if s.Err != nil {
		cause = s.Err.Error()
	}
	a.emit(KindScannerDown, "", s.Scanner, false, qrscan.StatusPrompt(s.Err), cause, nil)
}

// backflowNotice publishes the uploader's notices.
func (a *Agent) backflowNotice(n backflow.Notice) {
	ok := n.Kind == "backflow.resumed"
	a.emit(event.Kind(n.Kind), "", "backflow", ok, n.Code, n.Detail, map[string]any{"count": n.Count})
}

// platformUp is the link's first answer after an outage: the uploader drains now.
func (a *Agent) platformUp() {
	a.emit(KindPlatformUp, "", "platform", true, CodePlatformUp, "", nil)
	a.mu.Lock()
	g := a.gen
	a.mu.Unlock()
	if g != nil && g.uploader != nil {
		g.uploader.PlatformUp()
	}
}

// platformDown is the link's first call without an answer.
func (a *Agent) platformDown(err error) {
	a.emit(KindPlatformDown, "", "platform", false, CodePlatformDown, err.Error(), nil)
}

// promptsOf renders the 8.4 prompts of code in Chinese. The texts are the catalogue's
// only: a Go error is English and for maintainers, so it goes to the log (logCause),
// never into what an operator or holder reads.
func promptsOf(code prompt.Code) *prompt.Prompts {
	p := prompt.Lookup(code).All(prompt.ZH)
	return &p
}

// logCause logs the Go error behind an event (masked), with the event's kind and prompt
// code so that the log line and the operator's message can be matched.
func (a *Agent) logCause(kind event.Kind, source string, ok bool, code prompt.Code, cause string) {
	if cause == "" {
		return
	}
	level := slog.LevelWarn
	if ok {
		level = slog.LevelInfo
	}
	a.log.Log(context.Background(), level, "event cause", "event", string(kind), "source", source,
		"code", code.String(), "err", mask.Text(cause))
}
