package gate

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/labtest"
)

func TestHTTPHookOnceNoRetry(t *testing.T) {
	var calls atomic.Int32
	var got Trigger
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			t.Errorf("token header %q", r.Header.Get("Authorization"))
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		if got.Event == 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	tok := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(tok, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Kind, c.HTTP.URL, c.HTTP.TokenFile = KindHTTP, srv.URL, config.SecretFile(tok)
	o, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Open(context.Background(), Trigger{TerminalID: "T1", Scene: "gate", Event: 1}); err != nil {
		t.Fatal(err)
	}
	if got.TerminalID != "T1" || got.Scene != "gate" {
		t.Fatalf("hook got %+v", got)
	}
	err = o.Open(context.Background(), Trigger{Event: 2})
	if !errors.Is(err, ErrGate) || calls.Load() != 2 {
		t.Fatalf("5xx: err %v after %d calls; want ErrGate and no retry", err, calls.Load())
	}
}

// TestHTTPHookNoRedirect: a hook answering with a redirect has not opened the gate, and
// the redirect is not followed (a 307 would send the POST a second time).
func TestHTTPHookNoRedirect(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c := DefaultConfig()
	c.Kind, c.HTTP.URL = KindHTTP, srv.URL+"/open"
	o, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Open(context.Background(), Trigger{Event: 1}); !errors.Is(err, ErrGate) || calls.Load() != 1 {
		t.Fatalf("redirect: err %v after %d requests; want ErrGate after one", err, calls.Load())
	}
}

func TestHTTPHookTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	c := DefaultConfig()
	c.Kind, c.HTTP.URL, c.Timeout = KindHTTP, srv.URL, config.Duration(50*time.Millisecond)
	o, _ := New(c)
	if err := o.Open(context.Background(), Trigger{}); !errors.Is(err, ErrGate) {
		t.Fatalf("want ErrGate on timeout, got %v", err)
	}
}

// TestSerialRelay pulses a relay on one end of a real socat pty pair and reads the
// command and release bytes on the other end.
func TestSerialRelay(t *testing.T) {
	pair := labtest.NewPair(t)
	a := pair.Agent
	board := pair.Open()
	defer board.Close()
	c := DefaultConfig()
	c.Kind = KindSerial
	c.Serial.Port, c.Serial.Command, c.Serial.Release = a, "A00101A2", "A00100A1"
	c.Serial.PulseWidth = config.Duration(20 * time.Millisecond)
	var ps config.Problems
	c.Validate("gate", &ps)
	if ps.Len() != 0 {
		t.Fatal(ps.Err())
	}
	o, _ := New(c)
	if err := o.Open(context.Background(), Trigger{}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := io.ReadFull(bufio.NewReader(board), buf); err != nil {
		t.Fatal(err)
	}
	if got := strings.ToUpper(hex.EncodeToString(buf)); got != "A00101A2A00100A1" {
		t.Fatalf("board received %s", got)
	}
	c.Serial.Port = filepath.Join(t.TempDir(), "absent")
	o, _ = New(c)
	if err := o.Open(context.Background(), Trigger{}); !errors.Is(err, ErrGate) {
		t.Fatalf("absent port: %v", err)
	}
}

func TestValidate(t *testing.T) {
	c := DefaultConfig()
	c.Kind = KindSerial
	c.Serial.Command = "zz"
	var ps config.Problems
	c.Validate("scenes[0].gate", &ps)
	out := ps.Err().Error()
	for _, want := range []string{"scenes[0].gate.serial.port: required", "scenes[0].gate.serial.command: must be hex"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in %s", want, out)
		}
	}
	c = DefaultConfig()
	c.Kind = "door"
	ps = config.Problems{}
	c.Validate("g", &ps)
	if ps.Len() != 1 {
		t.Fatal(ps.List())
	}
}
