package localapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sscagent/sscagent/internal/prompt"
)

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if s.o.Status == nil {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
		return
	}
	writeJSON(w, http.StatusOK, s.o.Status.Status())
}

func (s *Server) queue(w http.ResponseWriter, r *http.Request) {
	if s.o.Queue == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "no queue on this terminal", nil)
		return
	}
	writeJSON(w, http.StatusOK, s.o.Queue.QueueStats())
}

// events streams masked events as Server-Sent Events; a token with neither kiosk nor
// operator scope gets them without the holder's (masked) identity. Last-Event-ID (or ?since=) replays
// the remembered events after that sequence number, so a reconnecting page misses none
// that the agent still holds.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, prompt.CodeInternal, "streaming unsupported", nil)
		return
	}
	var since uint64
	replay := false
	for _, v := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("since")} {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			since, replay = n, true
		}
	}
	personal := caller(r).personal()
	sub := s.o.Events.Subscribe(256, replay, since)
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case e := <-sub.C():
			if d := sub.Dropped(); d > 0 {
				fmt.Fprintf(w, "event: dropped\ndata: {\"dropped\":%d}\n\n", d)
			}
			if !personal {
				e.Data = withoutPersonal(e.Data)
			}
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Kind, b)
		}
		fl.Flush()
	}
}

// recordRequest is the body of POST /v1/records.
type recordRequest struct {
	// Type is credential (C.3 办事凭证), payment (C.4 支付结算) or benefit (C.5 待遇发放).
	Type   string          `json:"type"`
	Record json.RawMessage `json:"record"`
}

func (s *Server) postRecord(w http.ResponseWriter, r *http.Request) {
	if s.o.Records == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "records are not accepted on this terminal", nil)
		return
	}
	var req recordRequest
	if !decodeBody(w, r, &req) {
		return
	}
	key, kerr := idempotencyKey(r)
	if kerr != nil {
		s.fail(w, &InvalidError{Fields: []FieldError{*kerr}})
		return
	}
	if req.Type == "" || len(req.Record) == 0 || req.Record[0] != '{' {
		s.fail(w, &InvalidError{Fields: []FieldError{{Field: "type", Reason: "required: credential, payment or benefit"},
			{Field: "record", Reason: "required: a JSON object"}}})
		return
	}
	id, replayed, err := s.o.Records.Accept(r.Context(), req.Type, req.Record, key)
	if err != nil {
		s.fail(w, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": "queued"})
}

func (s *Server) read(w http.ResponseWriter, r *http.Request) {
	if s.o.Reads == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "no kiosk or medical scene on this terminal", nil)
		return
	}
	v, err := s.o.Reads.Read(r.Context(), r.PathValue("id"))
	s.answer(w, r, http.StatusOK, v, err)
}
