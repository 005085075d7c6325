package mqttc

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/internal/tlspin"
)

// inbox collects messages for a test.
type inbox chan Message

func (in inbox) on(m Message) {
	select {
	case in <- m:
	default:
		panic("test inbox full")
	}
}

func (in inbox) next(t *testing.T) Message {
	t.Helper()
	select {
	case m := <-in:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return Message{}
	}
}

func dial(t *testing.T, o Options) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, o)
	if err != nil {
		t.Fatalf("dial %v: %v", o.Brokers, err)
	}
	t.Cleanup(func() { c.Close(0) })
	return c
}

func TestPublishSubscribeWillAndSession(t *testing.T) {
	b := labtest.StartMosquitto(t, labtest.MosquittoOptions{})
	ctx := context.Background()
	in := make(inbox, 16)
	watcher := dial(t, Options{Brokers: []string{b.URL}, ClientID: "watcher", CleanSession: true, OnMessage: in.on})
	if err := watcher.Subscribe(ctx, map[string]byte{"t/#": 1}); err != nil {
		t.Fatal(err)
	}

	dev := dial(t, Options{Brokers: []string{b.URL}, ClientID: "dev", KeepAlive: 5 * time.Second,
		Will: &Message{Topic: "t/state", Payload: []byte("offline"), QoS: 1, Retained: true}})
	if dev.SessionPresent() {
		t.Fatal("fresh client reported a present session")
	}
	if err := dev.Publish(ctx, Message{Topic: "t/state", Payload: []byte("online"), QoS: 1, Retained: true}); err != nil {
		t.Fatal(err)
	}
	if m := in.next(t); string(m.Payload) != "online" || m.Retained {
		t.Fatalf("got %q retained=%v, want a live online", m.Payload, m.Retained)
	}
	// A subscriber arriving later gets the retained message flagged as retained.
	in2 := make(inbox, 4)
	late := dial(t, Options{Brokers: []string{b.URL}, ClientID: "late", CleanSession: true, OnMessage: in2.on})
	if err := late.Subscribe(ctx, map[string]byte{"t/state": 1}); err != nil {
		t.Fatal(err)
	}
	if m := in2.next(t); string(m.Payload) != "online" || !m.Retained {
		t.Fatalf("late subscriber got %q retained=%v", m.Payload, m.Retained)
	}

	// Closing TCP without DISCONNECT publishes the will.
	dev.Abort()
	if m := in.next(t); string(m.Payload) != "offline" {
		t.Fatalf("will: got %q", m.Payload)
	}
	select {
	case <-dev.Lost():
	default:
		t.Fatal("aborted connection not marked lost")
	}
	if err := dev.Publish(ctx, Message{Topic: "t/x", QoS: 1}); !errors.Is(err, ErrLost) {
		t.Fatalf("publish on a lost connection: %v", err)
	}

	// A persistent session survives a reconnect; a clean DISCONNECT sends no will.
	p1 := dial(t, Options{Brokers: []string{b.URL}, ClientID: "persist",
		Will: &Message{Topic: "t/will", Payload: []byte("x"), QoS: 1}})
	if err := p1.Subscribe(ctx, map[string]byte{"cmd/#": 1}); err != nil {
		t.Fatal(err)
	}
	p1.Close(100 * time.Millisecond)
	p2 := dial(t, Options{Brokers: []string{b.URL}, ClientID: "persist"})
	if !p2.SessionPresent() {
		t.Fatal("persistent session not present after reconnect")
	}
	select {
	case m := <-in:
		t.Fatalf("clean disconnect published %q on %s", m.Payload, m.Topic)
	case <-time.After(200 * time.Millisecond):
	}

	// Broker restart (persistence false): the session is gone.
	b.Stop()
	select {
	case <-p2.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("broker stop not noticed")
	}
	b.Start()
	p3 := dial(t, Options{Brokers: []string{b.URL}, ClientID: "persist"})
	if p3.SessionPresent() {
		t.Fatal("session present after a broker restart without persistence")
	}
}

func TestRefusedAndUnreachable(t *testing.T) {
	b := labtest.StartMosquitto(t, labtest.MosquittoOptions{
		Passwords: map[string]string{"T1": "right"},
		ACL:       "user T1\ntopic readwrite ssc/T1/#\n",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Dial(ctx, Options{Brokers: []string{b.URL}, ClientID: "x", Username: "T1", Password: "wrong"})
	var re *RefusedError
	if !errors.As(err, &re) || !re.Auth() {
		t.Fatalf("bad password: %v", err)
	}
	_, err = Dial(ctx, Options{Brokers: []string{b.URL}, ClientID: "y"})
	if !errors.As(err, &re) || !re.Auth() {
		t.Fatalf("anonymous: %v", err)
	}
	c := dial(t, Options{Brokers: []string{b.URL}, ClientID: "z", Username: "T1", Password: "right"})
	if err := c.Subscribe(ctx, map[string]byte{"ssc/T1/#": 1}); err != nil {
		t.Fatalf("allowed subscription: %v", err)
	}

	// Nothing listens on a fresh free port; the first broker fails, the second works.
	dead := "tcp://127.0.0.1:" + itoa(labtest.FreePort(t))
	c2 := dial(t, Options{Brokers: []string{dead, b.URL}, ClientID: "w", Username: "T1", Password: "right"})
	if err := c2.Publish(ctx, Message{Topic: "ssc/T1/x", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	if _, err := Dial(short, Options{Brokers: []string{dead}, ClientID: "v"}); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}

func TestTLSClientCertificate(t *testing.T) {
	ca := labtest.NewCA(t)
	b := labtest.StartMosquitto(t, labtest.MosquittoOptions{TLS: ca, RequireClientCert: true})
	cert, key := ca.Issue(t, "T9", true)
	conf, err := TLSFiles{CAFile: ca.CertFile, CertFile: cert, KeyFile: config.SecretFile(key)}.Config()
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, Options{Brokers: []string{b.URL}, ClientID: "T9", TLS: conf})
	if err := c.Publish(context.Background(), Message{Topic: "a", Payload: []byte("b"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	// Without a client certificate the handshake fails.
	noCert, err := TLSFiles{CAFile: ca.CertFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Dial(ctx, Options{Brokers: []string{b.URL}, ClientID: "anon", TLS: noCert}); err == nil {
		t.Fatal("connected without a client certificate")
	}
	// A CA that did not sign the broker's certificate is refused.
	other := labtest.NewCA(t)
	wrong, _ := TLSFiles{CAFile: other.CertFile}.Config()
	if _, err := Dial(ctx, Options{Brokers: []string{b.URL}, ClientID: "w", TLS: wrong}); err == nil {
		t.Fatal("connected to a broker signed by an unknown CA")
	}
}

func TestTLSFilesErrors(t *testing.T) {
	if _, err := (TLSFiles{CAFile: "/nonexistent/ca.pem"}).Config(); err == nil {
		t.Fatal("missing CA accepted")
	}
	ca := labtest.NewCA(t)
	cert, _ := ca.Issue(t, "c", true)
	if _, err := (TLSFiles{CertFile: cert}).Config(); err == nil {
		t.Fatal("certificate without key accepted")
	}
}

func TestCheckURL(t *testing.T) {
	for _, ok := range []string{"tcp://127.0.0.1:1883", "tls://tms.example.org:8883", "mqtts://h:1"} {
		if err := CheckURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:1883", "http://h:1", "tcp://h", "tcp://u:p@h:1", "ws://h:1", "tcp://h:1/x"} {
		if err := CheckURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestTLSPinnedBroker dials a real mosquitto over TLS: pinned to the key of its CA (in
// the verified chain) the connection is made; pinned to another key it is refused at
// the handshake.
func TestTLSPinnedBroker(t *testing.T) {
	ca := labtest.NewCA(t)
	b := labtest.StartMosquitto(t, labtest.MosquittoOptions{TLS: ca})
	caPEM, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(caPEM)
	caCert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	good, err := TLSFiles{CAFile: ca.CertFile, PinSPKI: []string{tlspin.String(tlspin.Of(caCert))}}.Config()
	if err != nil {
		t.Fatal(err)
	}
	dial(t, Options{Brokers: []string{b.URL}, ClientID: "pinned", TLS: good})
	bad, err := TLSFiles{CAFile: ca.CertFile, PinSPKI: []string{strings.Repeat("cd", 32)}}.Config()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Dial(ctx, Options{Brokers: []string{b.URL}, ClientID: "mispinned", TLS: bad}); !errors.Is(err, tlspin.ErrMismatch) {
		t.Fatalf("dial with a foreign pin: %v, want tlspin.ErrMismatch", err)
	}
	if _, err := (TLSFiles{PinSPKI: []string{"nope"}}).Config(); err == nil {
		t.Fatal("a malformed pin accepted")
	}
}
