package agent

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/sscagent/sscagent/agent/gate"
	"github.com/sscagent/sscagent/agent/localapi"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/internal/audit"
	"github.com/sscagent/sscagent/psam"
	"github.com/sscagent/sscagent/qrscan"
	"github.com/sscagent/sscagent/queue/backflow"
)

// group is a set of parts built, replaced and restarted together when a configuration
// is applied in process. The stores, the payment state machine and terminal
// management are not in a group: they live as long as the process.
type group uint8

// Groups, in start order (services, then producers); they stop in reverse.
const (
	groupBackflow group = iota // the uploader: backflow.*
	groupCards                 // the card reader manager: cards.*, terminal.test
	groupInputs                // scanners and scene workers (with their gates): scenes, scanners, records
	groupAPI                   // the local API: localapi.*
	numGroups
)

var allGroups = []group{groupBackflow, groupCards, groupInputs, groupAPI}

var groupNames = [numGroups]string{"backflow", "cards", "inputs", "localapi"}

// generation is the parts built from one configuration.
type generation struct {
	cfg      Config
	cards    *readers.Manager // nil when no scene takes cards
	scanners map[string]*qrscan.Scanner
	scenes   []*sceneRun
	api      *localapi.Server
	uploader *backflow.Uploader

	parts   [numGroups][]StagedPart
	handles [numGroups][]*Handle
}

// changedGroups reports which groups a change from old to cfg affects.
func changedGroups(old, cfg Config) (ch [numGroups]bool) {
	ne := func(x, y any) bool { return !reflect.DeepEqual(x, y) }
	ch[groupBackflow] = ne(old.Backflow, cfg.Backflow)
	ch[groupCards] = ne(old.Cards, cfg.Cards) || old.Terminal.Test != cfg.Terminal.Test ||
		scenesTakeCards(old.Scenes) != scenesTakeCards(cfg.Scenes)
	ch[groupInputs] = ch[groupCards] || ne(old.Scenes, cfg.Scenes) || ne(old.Scanners, cfg.Scanners) ||
		ne(old.Records, cfg.Records) || ne(old.Terminal, cfg.Terminal) || ne(old.Platform, cfg.Platform)
	ch[groupAPI] = ne(old.LocalAPI, cfg.LocalAPI)
	return ch
}

// scenesTakeCards reports whether any scene reads cards.
func scenesTakeCards(scenes []Scene) bool {
	for _, s := range scenes {
		if s.takesCards() {
			return true
		}
	}
	return false
}

// build makes the parts of cfg. With old, the groups cfg does not change are taken over
// from old as they are (running); the others are built anew. Nothing is started.
func (a *Agent) build(cfg Config, old *generation) (*generation, error) {
	g := &generation{cfg: cfg}
	var rebuild [numGroups]bool
	if old == nil {
		for i := range rebuild {
			rebuild[i] = true
		}
	} else {
		rebuild = changedGroups(old.cfg, cfg)
	}
	take := func(gr group) {
		g.parts[gr], g.handles[gr] = old.parts[gr], old.handles[gr]
	}
	if rebuild[groupBackflow] {
		u, err := backflow.New(backflow.Options{Store: &a.held, Submitter: submitter{a.link}, Config: cfg.Backflow,
			OnNotice: a.backflowNotice, Logger: a.log.With("component", "backflow")})
		if err != nil {
			return nil, fmt.Errorf("agent: backflow: %w", err)
		}
		g.uploader = u
		g.parts[groupBackflow] = []StagedPart{{StageService, u}}
	} else {
		g.uploader = old.uploader
		take(groupBackflow)
	}
	if rebuild[groupCards] {
		if scenesTakeCards(cfg.Scenes) {
			o := readers.Options{Config: cfg.Cards, TestTerminal: cfg.Terminal.Test, OnEvent: a.readerEvent,
				Logger: a.log.With("component", "cards")}
			if cfg.Cards.HSM.Enabled {
				o.HSM = psam.PlatformHSM{Client: a.link, DeviceNo: cfg.Cards.DeviceNo}
				o.Purchase = psam.PlatformPurchase{Client: a.link}
			}
			m, err := readers.New(o)
			if err != nil {
				return nil, fmt.Errorf("agent: cards: %w", err)
			}
			g.cards = m
			g.parts[groupCards] = []StagedPart{{StageProducer, m}}
		}
	} else {
		g.cards = old.cards
		take(groupCards)
	}
	if rebuild[groupInputs] {
		if err := a.buildInputs(g); err != nil {
			return nil, err
		}
	} else {
		g.scanners, g.scenes = old.scanners, old.scenes
		take(groupInputs)
	}
	if rebuild[groupAPI] {
		legacy := ""
		if cfg.LocalAPI.TokenFile != "" {
			tok, err := cfg.LocalAPI.TokenFile.Read()
			if err != nil {
				return nil, fmt.Errorf("agent: localapi.tokenFile: %w", err)
			}
			legacy = strings.TrimSpace(string(tok))
			a.log.Warn("deprecated setting", "detail", "localapi.tokenFile: one token with every scope; "+
				"give each application its own scoped token in localapi.tokens (sscagent token new)")
		}
		tokens, err := cfg.LocalAPI.Tokens(legacy)
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		api := apiServices{a}
		s, err := localapi.New(localapi.Options{Config: cfg.LocalAPI, Tokens: tokens, Audit: audit.Open(cfg.Agent.StateDir), Events: a.events,
			Payments: api, Refunds: api, Records: api, Status: api, Queue: api, Reads: api, Cards: api, Medical: api, Face: api, Login: api, Logger: a.log.With("component", "localapi")})
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		g.api = s
		g.parts[groupAPI] = []StagedPart{{StageProducer, s}}
	} else {
		g.api = old.api
		take(groupAPI)
	}
	return g, nil
}

// buildInputs makes the scene workers (with their gates) and the scanners that feed
// them; a scanner no scene lists is not opened.
func (a *Agent) buildInputs(g *generation) error {
	cfg := g.cfg
	g.scanners = map[string]*qrscan.Scanner{}
	byScanner := map[string]*sceneRun{}
	for _, sc := range cfg.Scenes {
		op, err := gate.New(sc.Gate)
		if err != nil {
			return fmt.Errorf("agent: scene %s: %w", sc.Name, err)
		}
		s := &sceneRun{a: a, cfg: sc, all: cfg.Scenes, gate: op, cards: g.cards, scans: make(chan qrscan.Scan, 1)}
		if sc.takesCards() && g.cards != nil && sc.Kind != SceneReader {
			s.cardW = g.cards.Waiter(readers.Filter{Readers: sc.Readers})
		}
		g.scenes = append(g.scenes, s)
		g.parts[groupInputs] = append(g.parts[groupInputs], StagedPart{StageProducer, s})
		for _, name := range sc.Scanners {
			if byScanner[name] == nil {
				byScanner[name] = s
			}
		}
	}
	for _, c := range cfg.Scanners {
		s := byScanner[c.Name]
		if s == nil {
			a.log.Warn("scanner listed by no scene; not opened", "scanner", c.Name)
			continue
		}
		sc, err := qrscan.New(c, qrscan.Options{Out: s.scans, OnStatus: a.scannerStatus,
			Opener: a.scanDevs[c.Name], Logger: a.log.With("scene", s.cfg.Name)})
		if err != nil {
			return fmt.Errorf("agent: scanner %s: %w", c.Name, err)
		}
		g.scanners[c.Name] = sc
		g.parts[groupInputs] = append(g.parts[groupInputs], StagedPart{StageProducer, sc})
	}
	return nil
}

// start starts the parts of the given groups that are not running yet.
func (g *generation) start(sup *Supervisor, groups []group) {
	for _, gr := range groups {
		if g.handles[gr] != nil {
			continue
		}
		for _, sp := range g.parts[gr] {
			g.handles[gr] = append(g.handles[gr], sup.Start(sp.Stage, sp.Part))
		}
	}
}

// stop stops the parts of the given groups, in reverse group order.
func (g *generation) stop(ctx context.Context, sup *Supervisor, groups []group) error {
	var errs []error
	for i := len(groups) - 1; i >= 0; i-- {
		gr := groups[i]
		hs := g.handles[gr]
		for j := len(hs) - 1; j >= 0; j-- {
			errs = append(errs, sup.Stop(ctx, hs[j]))
		}
		g.handles[gr] = nil
	}
	return errors.Join(errs...)
}

// scene returns the scene worker named name.
func (g *generation) scene(name string) *sceneRun {
	for _, s := range g.scenes {
		if s.cfg.Name == name {
			return s
		}
	}
	return nil
}
