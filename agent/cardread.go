package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sscagent/sscagent/agent/localapi"
	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform"
)

// The national reader interface (cmd/sscreader) reads cards on demand through the
// local API: the readers of reader scenes only, through the reader manager (which keeps
// exclusive use of the reader), each read published as a masked card.read event. The
// caller gets the 11-field string in clear, as the national DLL gives it.

var _ localapi.CardReader = apiServices{}

// iType values of the national interface.
const (
	iTypeContact          = 1
	iTypeContactless      = 2
	iTypeContactFirst     = 3
	iTypeContactlessFirst = 4
)

// ReadCard implements localapi.CardReader (iReadCardBas).
func (s apiServices) ReadCard(ctx context.Context, r localapi.CardReadRequest) (localapi.CardReadResult, error) {
	m, scene, name, err := s.a.libraryReader(r)
	if err != nil {
		return failed(name, err), nil
	}
	s.a.twoSteps.abandon(name)
	res, err := m.Read(s.a.sceneContext(ctx, scene), name, readers.ReadOptions{})
	return s.a.cardReadDone(scene, name, res, err), nil
}

// sceneContext returns ctx for the platform calls of a scene: they carry the scene's
// applicationNo.
func (a *Agent) sceneContext(ctx context.Context, scene string) context.Context {
	a.mu.Lock()
	scenes := a.gen.cfg.Scenes
	a.mu.Unlock()
	for _, s := range scenes {
		if s.Name == scene {
			return platform.WithApplicationNo(ctx, s.ApplicationNo)
		}
	}
	return ctx
}

// HSMStep1 implements localapi.CardReader (iReadCardBas_HSM_Step1): the read starts and
// stops at the HSM exchange, holding the card, until Step 2 brings pKey, the read's time
// (cards.readTimeout) runs out, or a new read of the same reader abandons it (a caller
// that never sent Step 2, as a vendor DLL powers the card anew for the next call).
func (s apiServices) HSMStep1(ctx context.Context, r localapi.CardReadRequest) (localapi.CardReadResult, error) {
	a := s.a
	m, scene, name, err := a.libraryReader(r)
	if err != nil {
		return failed(name, err), nil
	}
	a.twoSteps.abandon(name)
	// The read outlives this request: Step 2 is another one.
	readCtx, cancel := context.WithCancel(a.sceneContext(context.Background(), scene))
	ts := &twoStep{reader: name, cancel: cancel,
		step1: make(chan string, 1), pKey: make(chan string, 1), done: make(chan localapi.CardReadResult, 1)}
	go func() {
		defer cancel()
		res, err := m.Read(readCtx, name, readers.ReadOptions{TwoStep: ts})
		ts.done <- a.cardReadDone(scene, name, res, err)
	}()
	select {
	case step1 := <-ts.step1:
		id := a.twoSteps.put(ts)
		return localapi.CardReadResult{Reader: name, Step1: step1, Session: id}, nil
	case res := <-ts.done:
		return res, nil
	case <-ctx.Done():
		// The caller left: nobody will send pKey.
		cancel()
		return localapi.CardReadResult{}, ctx.Err()
	}
}

// HSMStep2 implements localapi.CardReader (iReadCardBas_HSM_Step2).
func (s apiServices) HSMStep2(ctx context.Context, r localapi.HSMStep2Request) (localapi.CardReadResult, error) {
	ts := s.a.twoSteps.take(r.Session)
	if ts == nil {
		return failed("", &card.Error{Code: card.CodeNotConnected, Op: "hsm step 2",
			Err: fmt.Errorf("no Step 1 session %q waiting (unknown, used, or its read timed out)", r.Session)}), nil
	}
	ts.pKey <- r.PKey
	select {
	case res := <-ts.done:
		return res, nil
	case <-ctx.Done():
		return localapi.CardReadResult{}, ctx.Err()
	}
}

// libraryReader picks the reader of a library read: the one named, or by iType the
// first with a card among the holder readers of reader scenes (contact ones for 1,
// contactless for 2, both in the iType's order for 3 and 4).
func (a *Agent) libraryReader(r localapi.CardReadRequest) (*readers.Manager, string, string, error) {
	a.mu.Lock()
	m, scenes := a.gen.cards, a.gen.cfg.Scenes
	a.mu.Unlock()
	if m == nil {
		return nil, "", r.Reader, &card.Error{Code: card.CodeReaderConnect, Prompt: card.PromptNoReader, Op: "read",
			Err: errors.New("this terminal runs no reader scene")}
	}
	var groups [2][]readers.ReaderInfo // contact, contactless
	for _, ri := range m.Health().Readers {
		if ri.Role != readers.RoleHolder {
			continue
		}
		if i := ownerOf(scenes, ri.Name); i < 0 || scenes[i].Kind != SceneReader {
			continue
		}
		if r.Reader != "" && ri.Name != r.Reader {
			continue
		}
		k := 0
		if ri.Contactless {
			k = 1
		}
		groups[k] = append(groups[k], ri)
	}
	var order [][]readers.ReaderInfo
	switch r.IType {
	case iTypeContact:
		order = groups[:1]
	case iTypeContactless:
		order = groups[1:]
	case iTypeContactFirst:
		order = groups[:]
	case iTypeContactlessFirst:
		order = [][]readers.ReaderInfo{groups[1], groups[0]}
	}
	first := ""
	for _, g := range order {
		for _, ri := range g {
			if first == "" {
				first = ri.Name
			}
			if ri.Present {
				return m, scenes[ownerOf(scenes, ri.Name)].Name, ri.Name, nil
			}
		}
	}
	if first == "" {
		what := "no holder reader of a reader scene"
		if r.Reader != "" {
			what = fmt.Sprintf("%q is not a holder reader of a reader scene", r.Reader)
		}
		return nil, "", r.Reader, &card.Error{Code: card.CodeReaderConnect, Prompt: card.PromptNoReader, Op: "read",
			Err: fmt.Errorf("%s for iType %d", what, r.IType)}
	}
	return nil, "", first, &card.Error{Code: card.CodeNoCard, Op: "read", Err: fmt.Errorf("no card in the readers for iType %d", r.IType)}
}

// cardReadDone publishes a library read (masked) and makes its answer.
func (a *Agent) cardReadDone(scene, reader string, res *card.Result, err error) localapi.CardReadResult {
	if err != nil {
		ce := card.AsError("read", err)
		a.emit(KindCardRead, scene, reader, false, ce.PromptCode(), ce.Error(),
			map[string]any{"code": int(ce.Code), "meaning": ce.Code.Meaning(), "via": "localapi"})
		return failed(reader, ce)
	}
	line, err := res.IReadCardBas(card.UTF8)
	if err != nil {
		return failed(reader, card.AsError("read", err))
	}
	data := cardData(res)
	data["via"] = "localapi"
	a.emit(KindCardRead, scene, reader, true, CodeCardRead, "", data)
	return localapi.CardReadResult{Reader: reader, IReadCardBas: string(line), Subject: res.Basic.SSN.String()}
}

// failed is the answer of a failed library read: the national code, its meaning and
// the prompts.
func failed(reader string, err error) localapi.CardReadResult {
	ce := card.AsError("read", err)
	p := ce.Message().All(prompt.ZH)
	return localapi.CardReadResult{Code: int(ce.Code), Meaning: ce.Code.Meaning(), Reader: reader, Prompts: &p}
}

// twoStep is one HSM two-step in progress: the read waits in InternalAuth for the pKey
// the caller brings in Step 2.
type twoStep struct {
	reader string
	cancel context.CancelFunc // ends the read
	step1  chan string        // the Step 1 string, to the Step 1 request
	pKey   chan string        // the platform's answer, from the Step 2 request
	done   chan localapi.CardReadResult
}

// InternalAuth implements psam.InternalAuthenticator.
func (t *twoStep) InternalAuth(ctx context.Context, step1 string) (string, error) {
	select {
	case t.step1 <- step1:
	default:
		return "", errors.New("hsm two-step: a second Step 1 has nobody to go to")
	}
	select {
	case k := <-t.pKey:
		return k, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// twoStepStore keeps the two-steps waiting for Step 2, each until taken or expired.
type twoStepStore struct {
	mu sync.Mutex // guards m
	m  map[string]twoStepEntry
}

type twoStepEntry struct {
	ts      *twoStep
	expires time.Time
}

// twoStepTTL bounds a session's life; the read itself ends with cards.readTimeout.
const twoStepTTL = 5 * time.Minute

func (s *twoStepStore) put(ts *twoStep) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]twoStepEntry{}
	}
	for k, e := range s.m {
		if now.After(e.expires) {
			delete(s.m, k)
		}
	}
	s.m[id] = twoStepEntry{ts: ts, expires: now.Add(twoStepTTL)}
	return id
}

// abandon ends the two-steps waiting for Step 2 on reader and waits until their reads
// have let go of the card; their sessions are gone (Step 2 is -12).
func (s *twoStepStore) abandon(reader string) {
	s.mu.Lock()
	var ended []*twoStep
	for k, e := range s.m {
		if e.ts.reader == reader {
			delete(s.m, k)
			ended = append(ended, e.ts)
		}
	}
	s.mu.Unlock()
	for _, ts := range ended {
		ts.cancel()
		<-ts.done
	}
}

// take removes and returns the session's two-step, nil when unknown, used or expired.
// A session whose read already ended answers that read's result.
func (s *twoStepStore) take(id string) *twoStep {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[id]
	delete(s.m, id)
	if !ok || time.Now().After(e.expires) {
		return nil
	}
	return e.ts
}
