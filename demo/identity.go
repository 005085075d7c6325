package demo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform/platformsim"
)

// The identity flows beyond a read: face verification (7.1.3) of the holder of a card
// just read at the medical counter, and a QR login (7.1.4) whose code the sandbox's
// e-card app approves in place of the holder's phone.

// readWait bounds how long :face waits for the agent to read the inserted card.
const readWait = 10 * time.Second

// observeRead keeps the id of the latest read handed over for a follow-up (a kiosk or
// medical scene's auth.succeeded), for :face.
func (c *Controls) observeRead(e event.Event) {
	id, _ := e.Data["readId"].(string)
	if e.Kind != "auth.succeeded" || id == "" || e.Scene != SceneMedical {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readIDs == nil {
		c.readIDs = make(chan string, 1)
	}
	select {
	case <-c.readIDs: // only the latest read counts
	default:
	}
	c.readIDs <- id
}

// reads returns the channel observeRead fills.
func (c *Controls) reads() chan string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readIDs == nil {
		c.readIDs = make(chan string, 1)
	}
	return c.readIDs
}

// face is ":face 张三 [李四]": the person's card is read at the medical counter, then
// POST /v1/face sends a photograph: the person's registered test portrait (pass), or
// the second person's (fail: another face).
func (c *Controls) face(ctx context.Context, args []string) {
	const usage = "usage: :face 张三|李四 [PHOTO-OF]  (the card is read at the medical counter, then the photograph of PHOTO-OF, by default the holder, is compared)"
	if len(args) < 1 || len(args) > 2 {
		c.Console.Line("demo", Warn, "%s", usage)
		return
	}
	holder, ok := PersonNamed(args[0])
	if !ok || holder.Card == "" {
		c.Console.Line("demo", Warn, "%q has no physical card: %s", args[0], usage)
		return
	}
	sitter := holder
	if len(args) == 2 {
		if sitter, ok = PersonNamed(args[1]); !ok {
			c.Console.Line("demo", Warn, "%q is not a test person: %s", args[1], usage)
			return
		}
	}
	img, ok := platformsim.Portrait(sitter.IDNumber)
	if !ok {
		c.Console.Line("demo", Warn, "the sandbox has no portrait of %s", mask.Name(sitter.Name))
		return
	}
	reads := c.reads()
	select {
	case <-reads: // a read before this insertion is not this holder's
	default:
	}
	if !c.insertMedical(holder) {
		return
	}
	var readID string
	select {
	case readID = <-reads:
	case <-time.After(readWait):
		c.Console.Line("demo", Bad, "the agent did not read the card within %s", readWait)
		return
	case <-ctx.Done():
		return
	}
	body, _ := json.Marshal(map[string]string{"readId": readID, "image": base64.StdEncoding.EncodeToString(img)})
	v, err := c.call(ctx, http.MethodPost, "/v1/face", body)
	if err != nil {
		c.Console.Line("demo", Bad, "POST /v1/face: %s", maskErr(err))
		return
	}
	result, _ := v["result"].(string)
	score, _ := v["score"].(string)
	threshold, _ := v["threshold"].(string)
	rec, _ := v["recordId"].(string)
	s := Bad
	if result == "pass" {
		s = Good
	}
	c.Console.Line("demo", s, "POST /v1/face: %s (score %s, threshold %s; photograph of %s) record %s (C.3, 办事凭证类型 03)%s",
		result, score, threshold, mask.Name(sitter.Name), rec, promptText(v))
}

// login is ":login [04|05]": POST /v1/login starts a login and holds its code (the QR
// the kiosk shows; never printed, it is a login ticket). ":approve 张三" or ":refuse"
// then plays the holder's phone and waits for the outcome with GET /v1/login/{id}?wait.
func (c *Controls) login(ctx context.Context, args []string) {
	typ := "05"
	if len(args) == 1 && (args[0] == "04" || args[0] == "05") {
		typ = args[0]
	} else if len(args) != 0 {
		c.Console.Line("demo", Warn, "usage: :login [05|04]  (05 扫码登录, the default; 04 信息授权登录)")
		return
	}
	body, _ := json.Marshal(map[string]string{"type": typ})
	v, err := c.call(ctx, http.MethodPost, "/v1/login", body)
	if err != nil {
		c.Console.Line("demo", Bad, "POST /v1/login: %s", maskErr(err))
		return
	}
	id, _ := v["loginId"].(string)
	code, _ := v["code"].(string)
	expires, _ := v["expireTime"].(string)
	c.mu.Lock()
	c.loginID, c.loginCode = id, code
	c.mu.Unlock()
	c.Console.Line("demo", Plain, "POST /v1/login: login %s (type %s) shows a QR code of %d characters until %s; :approve 张三 or :refuse plays the holder's phone%s",
		id, typ, len(code), expires, promptText(v))
}

// approve is ":approve 张三" / ":refuse": the sandbox's e-card app answers the login
// code held by :login, then the outcome is awaited on the local API.
func (c *Controls) approve(ctx context.Context, args []string, refuse bool) {
	c.mu.Lock()
	id, code := c.loginID, c.loginCode
	c.mu.Unlock()
	if id == "" {
		c.Console.Line("demo", Warn, "no login waiting: start one with :login")
		return
	}
	if c.Sandbox == nil {
		c.Console.Line("demo", Warn, "no sandbox platform to approve with")
		return
	}
	var p Person
	if !refuse {
		ok := len(args) == 1
		if ok {
			p, ok = PersonNamed(args[0])
		}
		if !ok {
			c.Console.Line("demo", Warn, "usage: :approve 张三|李四|王五 (the holder who scans the login code)")
			return
		}
	}
	if _, err := c.Sandbox.ApproveLogin(code, p.IDNumber, refuse); err != nil {
		c.Console.Line("demo", Bad, "the e-card app could not answer the login: %s", maskErr(err))
		return
	}
	v, err := c.call(ctx, http.MethodGet, "/v1/login/"+url.PathEscape(id)+"?wait=10s", nil)
	if err != nil {
		c.Console.Line("demo", Bad, "GET /v1/login/%s: %s", id, maskErr(err))
		return
	}
	state, _ := v["state"].(string)
	s, extra := Bad, ""
	if state == "authorised" {
		s = Good
		rec, _ := v["recordId"].(string)
		h, _ := v["holder"].(map[string]any)
		n, _ := h["name"].(string)
		no, _ := h["idNumber"].(string)
		extra = fmt.Sprintf(" as %s %s, record %s (C.3)", mask.Name(n), mask.IDNumber(no), rec)
	}
	if state != "waiting" {
		c.mu.Lock()
		c.loginID, c.loginCode = "", ""
		c.mu.Unlock()
	}
	c.Console.Line("demo", s, "GET /v1/login/%s: %s%s%s", id, state, extra, promptText(v))
}

// promptText is " holder-text [code]" from an answer's prompts, "" without.
func promptText(v map[string]any) string {
	p, ok := v["prompts"].(map[string]any)
	if !ok {
		return ""
	}
	h, _ := p["holder"].(string)
	code, _ := p["code"].(string)
	return fmt.Sprintf(" %s [%s]", h, code)
}
