package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sscagent/sscagent/agent/localapi"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform"
)

// QR login (7.1.4): POST /v1/login gets a login code from the platform for the kiosk to
// show; GET /v1/login/{id}?wait= holds the kiosk's request while the agent polls the
// platform every loginPollEvery, and answers as soon as the login is final. Nobody
// waiting, nobody polls. A final login is kept for loginKeep, then forgotten.
const (
	loginPollEvery = 2 * time.Second
	loginKeep      = 5 * time.Minute
)

// loginStore holds the logins of the last loginKeep. The zero value is ready.
type loginStore struct {
	mu sync.Mutex // guards m
	m  map[string]*loginSession
}

// loginSession is one login. mu makes one poll at a time and guards the fields.
type loginSession struct {
	mu      sync.Mutex
	view    localapi.LoginView // Code is empty: the ticket is handed out once
	scene   string
	started time.Time
	final   time.Time // zero while waiting
}

func (s *loginStore) put(ls *loginSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*loginSession{}
	}
	now := time.Now()
	for id, old := range s.m {
		if now.Sub(old.started) > loginKeep+localapi.MaxLoginWait {
			delete(s.m, id)
		}
	}
	s.m[ls.view.LoginID] = ls
}

func (s *loginStore) get(id string) *loginSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

// loginScene is the scene of a login: the named one, or the first kiosk scene, or the
// first scene.
func (a *Agent) loginScene(name string) (Scene, bool) {
	if name != "" {
		return a.sceneNamed(name)
	}
	scenes := a.Config().Scenes
	for _, sc := range scenes {
		if sc.Kind == SceneKiosk {
			return sc, true
		}
	}
	if len(scenes) > 0 {
		return scenes[0], true
	}
	return Scene{}, false
}

// StartLogin implements localapi.LoginService.
func (s apiServices) StartLogin(ctx context.Context, r localapi.LoginRequest) (localapi.LoginView, error) {
	a := s.a
	sc, ok := a.loginScene(r.Scene)
	if !ok {
		return localapi.LoginView{}, &localapi.InvalidError{Code: CodeNoScene, Fields: []localapi.FieldError{{Field: "scene", Reason: "no scene named " + r.Scene}}}
	}
	lc, err := a.link.client().NewLoginCode(ctx, r.Type, 0)
	a.link.note(err)
	if err != nil {
		code := platform.PromptFor(err)
		a.emit(KindLoginEnded, sc.Name, "localapi", false, code, err.Error(), map[string]any{"type": r.Type, "state": localapi.LoginUnavailable})
		return localapi.LoginView{Type: r.Type, State: localapi.LoginUnavailable, Prompts: promptsOf(CodeLoginNoAnswer)}, nil
	}
	v := localapi.LoginView{LoginID: lc.LoginID, Type: r.Type, State: localapi.LoginWaiting, ExpireTime: lc.ExpireTime}
	a.logins.put(&loginSession{view: v, scene: sc.Name, started: time.Now()})
	a.emit(KindLoginStarted, sc.Name, "localapi", true, CodeLoginShown, "", map[string]any{"loginId": lc.LoginID, "type": r.Type,
		"expireTime": lc.ExpireTime})
	v.Code = lc.Content
	v.Prompts = promptsOf(CodeLoginShown)
	return v, nil
}

// WaitLogin implements localapi.LoginService.
func (s apiServices) WaitLogin(ctx context.Context, id string, wait time.Duration) (localapi.LoginView, error) {
	a := s.a
	ls := a.logins.get(id)
	if ls == nil {
		return localapi.LoginView{}, coded{fmt.Errorf("%w: login %q unknown or no longer kept", localapi.ErrNotFound, id), CodeNoSuchLogin}
	}
	deadline := time.Now().Add(wait)
	for {
		v, final := a.pollLogin(ctx, ls)
		left := time.Until(deadline)
		if final || left <= 0 || ctx.Err() != nil {
			return v, nil
		}
		t := time.NewTimer(min(left, loginPollEvery))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// pollLogin asks the platform once about a login still waiting and returns its view.
// A final login writes its event and, once authorised, its C.3 record.
func (a *Agent) pollLogin(ctx context.Context, ls *loginSession) (localapi.LoginView, bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if !ls.final.IsZero() {
		return ls.view, true
	}
	pctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	authTime := time.Now()
	res, err := a.link.client().PollLogin(pctx, ls.view.LoginID)
	a.link.note(err)
	v := &ls.view
	var code prompt.Code
	switch {
	case err != nil && platform.ClassOf(err) == platform.ClassRejected:
		v.State, code = localapi.LoginUnavailable, platform.PromptFor(err)
	case err != nil: // no answer this time: still waiting, ask again later
		return *v, false
	case res.State == platform.LoginAuthorised:
		v.State, code = localapi.LoginAuthorised, CodeLoginOK
		v.Holder = &localapi.LoginHolder{IDNumber: res.IDNumber.Clear(), IDType: res.IDType, Name: res.Name.Clear()}
	case res.State == platform.LoginExpired:
		v.State, code = localapi.LoginExpired, CodeLoginExpired
	case res.State == platform.LoginRefused:
		v.State, code = localapi.LoginRefused, CodeLoginRefused
	default:
		return *v, false
	}
	ls.final = time.Now()
	data := map[string]any{"loginId": v.LoginID, "type": v.Type, "state": v.State}
	if v.Holder != nil {
		data["idNumber"], data["idType"], data["name"] = res.IDNumber.String(), res.IDType, res.Name.String()
		sc, _ := a.sceneNamed(ls.scene)
		rec := credential(a.Config(), sc, false, res.IDNumber, res.Name, authTime, time.Now(), statusOK)
		rec.CredentialType = credentialScanLogin
		if v.Type == credentialAuthLogin {
			rec.CredentialType = credentialAuthLogin
		}
		v.RecordID, _ = a.queueCredential(ctx, ls.scene, "localapi", rec)
	}
	cause := ""
	if err != nil {
		cause = err.Error()
	}
	a.emit(KindLoginEnded, ls.scene, "localapi", v.State == localapi.LoginAuthorised, code, cause, data)
	v.Prompts = promptsOf(code)
	return *v, true
}
