package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// noteBacklog says, at the end, how many records had not flowed back yet and what
// becomes of them.
func (c *Controls) noteBacklog(keep bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := c.call(ctx, http.MethodGet, "/v1/queue", nil)
	if err != nil {
		return
	}
	var n float64
	q, _ := v["queue"].(map[string]any)
	lanes, _ := q["lanes"].(map[string]any)
	for _, l := range lanes {
		if m, ok := l.(map[string]any); ok {
			d, _ := m["depth"].(float64)
			n += d
		}
	}
	switch {
	case n == 0:
	case keep:
		c.Console.Line("demo", Warn, "%.0f record(s) had not flowed back yet: kept in the queue for the next run", n)
	default:
		c.Console.Line("demo", Warn, "%.0f record(s) had not flowed back yet: they go with the scratch directory (--keep keeps them)", n)
	}
}

func (c *Controls) status(ctx context.Context) {
	if c.Parts != nil {
		var ps []string
		for _, p := range c.Parts() {
			s := p.Name + " " + p.State
			if p.Restarts > 0 {
				s += fmt.Sprintf(" (%d restarts)", p.Restarts)
			}
			ps = append(ps, s)
		}
		c.Console.Line("demo", Plain, "parts: %s", strings.Join(ps, ", "))
	}
	c.get(ctx, "/v1/status")
}

func (c *Controls) get(ctx context.Context, path string) {
	v, err := c.call(ctx, http.MethodGet, path, nil)
	if err != nil {
		c.Console.Line("demo", Bad, "GET %s: %s", path, maskErr(err))
		return
	}
	j, _ := json.Marshal(v)
	c.Console.Line("demo", Plain, "GET %s: %s", path, j)
}

// call makes one local API request with the bearer token and decodes the JSON object
// it answers; an error status becomes an error carrying the API's message and prompt.
func (c *Controls) call(ctx context.Context, method, path string, body []byte) (map[string]any, error) {
	addr := ""
	if c.API != nil {
		addr = c.API()
	}
	if addr == "" {
		return nil, errors.New("the local API is not listening (yet)")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: answer is not a JSON object: %.80q", resp.Status, b)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Message string `json:"message"`
				Prompts struct {
					Operator string `json:"operator"`
					Code     string `json:"code"`
				} `json:"prompts"`
				Fields []struct{ Field, Reason string } `json:"fields"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		msg := fmt.Sprintf("%s: %s (%s [%s])", resp.Status, e.Error.Message, e.Error.Prompts.Operator, e.Error.Prompts.Code)
		for _, f := range e.Error.Fields {
			msg += fmt.Sprintf("; %s: %s", f.Field, f.Reason)
		}
		return nil, errors.New(msg)
	}
	return v, nil
}
