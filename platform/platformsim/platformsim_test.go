package platformsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/platform/protocol"
)

func TestDefaultSeed(t *testing.T) {
	r := DefaultRegistry()
	if len(r.Persons) != 4 || r.person("11010519491231002X") != nil {
		t.Fatalf("seed persons %d", len(r.Persons))
	}
	c, p := r.cardByID("350200D156000005300000030A0B0C0D")
	if c == nil || c.Status != "lost" || p.Name != "赵六" {
		t.Fatalf("赵六's card: %+v", c)
	}
	if c, _ := r.cardByID("350200D15600000530000003"); c != nil {
		t.Fatal("a 24-character id matched a card")
	}
}

func TestParseRegistryReportsEveryProblem(t *testing.T) {
	bad := `{"persons":[
		{"idNumber":"350102199003077899","name":"","cards":[{"cardNo":"d1","cardId":"x","regionCode":"990000","status":"gone"}],
		 "ecard":{"signLevel":"3","regionCode":"350100","balance":"1.5"}},
		{"idNumber":"350102199003077899","name":"x"}]}`
	_, err := ParseRegistry([]byte(bad))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"persons[0].idNumber", "persons[0].name", "cards[0].cardNo", "cards[0].cardId", "cards[0].regionCode",
		"cards[0].status", "ecard.signLevel", "ecard.balance", "persons[1].idNumber: listed twice"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if _, err := ParseRegistry([]byte(`{"persons":[],"extra":1}`)); err == nil {
		t.Error("unknown field accepted")
	}
}

func TestParseFault(t *testing.T) {
	f, err := ParseFault("micropay:delayAfter:delay=2s:count=3")
	if err != nil || f.Op != "micropay" || f.Kind != FaultDelayAfter || time.Duration(f.Delay) != 2*time.Second || f.Count != 3 {
		t.Fatalf("%+v %v", f, err)
	}
	if f, err = ParseFault("*:http"); err != nil || f.Status != 503 {
		t.Fatalf("default status: %+v %v", f, err)
	}
	if f, err = ParseFault("cardAuth:msgCode"); err != nil || f.MsgCode != protocol.CodeBusy {
		t.Fatalf("default code: %+v %v", f, err)
	}
	for _, bad := range []string{"", "micropay", "teleport:http", "*:explode", "*:http:status=200", "*:msgCode:code=000000",
		"*:latency:rate=2", "*:latency:delay=1h", "*:recall", "*:http:count", "*:http:colour=red", "*:latency:count=-1"} {
		if _, err := ParseFault(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseFault(f *testing.F) {
	f.Add("micropay:dropAfter:count=1")
	f.Add("*:latency:delay=200ms:rate=0.1")
	f.Add("reverse:recall:count=2")
	f.Add("cardAuth:staleResponse:skew=-10m")
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := ParseFault(s)
		if err != nil {
			return
		}
		if err := fl.Validate(); err != nil {
			t.Fatalf("parsed fault does not validate: %v", err)
		}
		fs := newFaults(1)
		fs.add(fl)
		if fl.Op != "*" {
			if _, ok := fs.pick(protocol.OpBackflow); ok && fl.Op != string(protocol.OpBackflow) {
				t.Fatal("fault fired on another operation")
			}
		}
	})
}

func TestFaultCountsAndRates(t *testing.T) {
	fs := newFaults(7)
	fs.add(Fault{Op: "micropay", Kind: FaultDropAfter, Count: 2}, Fault{Op: "*", Kind: FaultLatency, Rate: 0.5})
	for i := range 2 {
		if f, ok := fs.pick(protocol.OpMicropay); !ok || f.Kind != FaultDropAfter {
			t.Fatalf("call %d: %+v %v", i, f, ok)
		}
	}
	hits := 0
	for range 1000 {
		f, ok := fs.pick(protocol.OpMicropay)
		if ok {
			if f.Kind != FaultLatency {
				t.Fatal("used-up rule fired")
			}
			hits++
		}
	}
	if hits < 400 || hits > 600 {
		t.Fatalf("rate 0.5 fired %d of 1000", hits)
	}
	if st := fs.state(); len(st.Rules) != 1 || st.Fired[FaultDropAfter] != 2 {
		t.Fatalf("%+v", st)
	}
	if _, ok := newFaults(1).pick(protocol.OpReverse); ok {
		t.Fatal("no rules, yet a fault")
	}
}

func TestNonceCache(t *testing.T) {
	n := newNonceCache(time.Minute)
	now := time.Now()
	if n.add("a", now) != nonceNew || n.add("a", now.Add(59*time.Second)) != nonceReplay {
		t.Fatal("replay within the ttl not detected")
	}
	if n.add("a", now.Add(61*time.Second)) != nonceNew {
		t.Fatal("expired entry still refused")
	}
}

func TestControlAccess(t *testing.T) {
	kd, err := OpenKeyDir(t.TempDir(), []string{DefaultChannel}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token, remote, auth string
		want                int
	}{
		{"", "127.0.0.1:5000", "", 200},
		{"", "[::1]:5000", "", 200},
		{"", "192.0.2.7:5000", "", 403},
		{"s3cret", "192.0.2.7:5000", "Bearer s3cret", 200},
		{"s3cret", "192.0.2.7:5000", "Bearer wrong", 403},
		{"s3cret", "127.0.0.1:5000", "", 403},
	} {
		s, err := New(Options{PlatformKey: kd.Platform, Channels: kd.Channels, ControlToken: tc.token})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/_sim/ledger", nil)
		r.RemoteAddr = tc.remote
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%+v: %d", tc, w.Code)
		}
	}
}

func TestKeyDir(t *testing.T) {
	dir := t.TempDir()
	kd, err := OpenKeyDir(dir, []string{"350100000001", "350100000002"}, []string{"platform.test"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if kd.Test || len(kd.Channels) != 2 || len(kd.Created) != 10 {
		t.Fatalf("test %v, channels %d, created %v", kd.Test, len(kd.Channels), kd.Created)
	}
	for rel, mode := range map[string]os.FileMode{"platform.key.pem": 0o600, "tls.key": 0o600, "platform.pub.pem": 0o644,
		"channels/350100000001/sm4.key": 0o600, "channels/350100000001/channel.key.pem": 0o600} {
		if fi, err := os.Stat(filepath.Join(dir, rel)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v", rel, fi.Mode(), err)
		}
	}
	// Reopened: the same keys, nothing created, channels found on disk.
	again, err := OpenKeyDir(dir, nil, []string{"platform.test"}, false)
	if err != nil || len(again.Created) != 0 || len(again.Channels) != 2 ||
		!again.Platform.Public().Equal(kd.Platform.Public()) || !again.Channels["350100000002"].PublicKey.Equal(kd.Channels["350100000002"].PublicKey) {
		t.Fatalf("reopen: %v %v", err, again.Created)
	}
	// A host the certificate does not name.
	if _, err := OpenKeyDir(dir, nil, []string{"other.test"}, false); err == nil || !strings.Contains(err.Error(), "does not name other.test") {
		t.Fatalf("%v", err)
	}
	// Test keys into a directory of random keys: refused.
	if _, err := OpenKeyDir(dir, nil, nil, true); err == nil {
		t.Fatal("test keys mixed with random keys")
	}
	// A terminal's own key pair: only its public key is in the directory.
	own, _ := protocol.GenerateKey()
	pub, _ := own.Public().MarshalPEM()
	chDir := filepath.Join(dir, "channels", "350100000003")
	if err := os.MkdirAll(chDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(chDir, "channel.pub.pem"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	kd, err = OpenKeyDir(dir, nil, nil, false)
	if err != nil || !kd.Channels["350100000003"].PublicKey.Equal(own.Public()) {
		t.Fatalf("own key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(chDir, "channel.key.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a private key was made for a channel that brought its own")
	}
	// Derived test keys.
	tk, err := OpenKeyDir(t.TempDir(), []string{"350100000001"}, nil, true)
	if err != nil || !tk.Test || !protocol.IsTestSM4Key(tk.Channels["350100000001"].SM4Key, "350100000001") {
		t.Fatalf("test keys: %v", err)
	}
}

// TestServeSniffsTLS serves HTTP and HTTPS on one port, and ends on cancel.
func TestServeSniffsTLS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	sb, err := Start(ctx, t.TempDir(), StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(sb.Keys.CertFile)
	pool.AppendCertsFromPEM(pem)
	secure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, c := range []struct {
		hc  *http.Client
		url string
	}{{http.DefaultClient, sb.URL(false)}, {secure, sb.URL(true)}} {
		resp, err := c.hc.Get(c.url + "/_sim/keys")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), sb.Keys.Platform.Public().Fingerprint()) {
			t.Fatalf("%s: %s %s", c.url, resp.Status, b)
		}
	}
	// A client that connects and sends nothing does not stall the others.
	idle, err := net.Dial("tcp", sb.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if resp, err := http.Get(sb.URL(false) + "/_sim/faults"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v", err)
	} else {
		resp.Body.Close()
	}
	cancel()
	done := make(chan error, 1)
	go func() { done <- sb.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sandbox did not stop")
	}
	if _, err := net.Dial("tcp", sb.Addr); err == nil {
		t.Fatal("still listening")
	}
}

// TestProtocolRefusals sends broken requests straight to the handler.
func TestProtocolRefusals(t *testing.T) {
	kd, err := OpenKeyDir(t.TempDir(), []string{DefaultChannel}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := protocol.GenerateKey()
	s, err := New(Options{PlatformKey: kd.Platform, Channels: kd.Channels})
	if err != nil {
		t.Fatal(err)
	}
	chKeyPEM, _ := os.ReadFile(filepath.Join(kd.Dir, "channels", DefaultChannel, "channel.key.pem"))
	chKey, _ := protocol.ParsePrivateKey(chKeyPEM)
	fc, _ := protocol.NewFieldCipher(kd.Channels[DefaultChannel].SM4Key, "", "")
	build := func(mut func(*protocol.Request), key *protocol.PrivateKey, data string) []byte {
		r := &protocol.Request{RequestID: protocol.NewRequestID(), Timestamp: protocol.FormatTime(time.Now()), ChannelNo: DefaultChannel, Data: data}
		if mut != nil {
			mut(r)
		}
		if err := (protocol.Scheme{}).SignRequest(key, r); err != nil {
			t.Fatal(err)
		}
		b, _ := protocol.Marshal(r)
		return b
	}
	idEnc, _ := fc.Encrypt("350102199003077898")
	goodData := `{"terminalId":"T1","idNumber":"` + idEnc + `","cardNo":"D10000017","cardId":"350100D156000005300000016A5F3C21"}`
	for name, tc := range map[string]struct {
		body   []byte
		code   string
		status int
	}{
		"ok":            {build(nil, chKey, goodData), protocol.CodeOK, 200},
		"not json":      {[]byte("hello"), protocol.CodeBadRequest, 400},
		"bad fields":    {build(func(r *protocol.Request) { r.ChannelNo = "1" }, chKey, goodData), protocol.CodeBadRequest, 400},
		"channel":       {build(func(r *protocol.Request) { r.ChannelNo = "999999999999" }, chKey, goodData), protocol.CodeNoChannel, 200},
		"signature":     {build(nil, other, goodData), protocol.CodeBadSignature, 200},
		"stale":         {build(func(r *protocol.Request) { r.Timestamp = protocol.FormatTime(time.Now().Add(-6 * time.Minute)) }, chKey, goodData), protocol.CodeStaleTimestamp, 200},
		"future":        {build(func(r *protocol.Request) { r.Timestamp = protocol.FormatTime(time.Now().Add(6 * time.Minute)) }, chKey, goodData), protocol.CodeStaleTimestamp, 200},
		"data":          {build(nil, chKey, `{"idNumber":1}`), protocol.CodeBadRequest, 200},
		"ciphertext":    {build(nil, chKey, strings.Replace(goodData, idEnc, "AAAA", 1)), protocol.CodeBadCiphertext, 200},
		"missing":       {build(nil, chKey, `{"terminalId":"T1","cardNo":"D10000017"}`), protocol.CodeBadRequest, 200},
		"no terminalId": {build(nil, chKey, strings.Replace(goodData, `"terminalId":"T1",`, "", 1)), protocol.CodeBadRequest, 200},
		"too large":     {[]byte(strings.Repeat(" ", protocol.MaxMessage+1)), protocol.CodeBadRequest, 413},
	} {
		r := httptest.NewRequest("POST", "/api/v1/card/auth", strings.NewReader(string(tc.body)))
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		resp, fields, err := protocol.ParseResponse(w.Body.Bytes())
		if err != nil {
			t.Fatalf("%s: %v %s", name, err, w.Body.Bytes())
		}
		if resp.MsgCode != tc.code || w.Code != tc.status {
			t.Errorf("%s: %s %d, want %s %d (%s)", name, resp.MsgCode, w.Code, tc.code, tc.status, resp.Msg)
		}
		if err := (protocol.Scheme{}).VerifyFields(kd.Platform.Public(), fields); err != nil {
			t.Errorf("%s: answer not signed: %v", name, err)
		}
	}
}

func FuzzParseRegistry(f *testing.F) {
	f.Add(DefaultSeed())
	f.Add([]byte(`{"persons":[{"idNumber":"11010519491231002X","name":"x","ecard":{"signLevel":"2","regionCode":"110105","balance":"1.00"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRegistry(b)
		if err != nil {
			return
		}
		st := newState(r, 100000)
		for _, p := range r.Persons {
			if st.reg.person(p.IDNumber) == nil {
				t.Fatal("registered person not found")
			}
		}
	})
}

func FuzzParseAuthorisation(f *testing.F) {
	f.Add([]byte("channels:\n  \"350100000001\":\n    operations: [cardAuth]\n    terminals: [T1]\n    addresses: [127.0.0.1, 10.0.0.0/8, \"::1\"]\n"))
	f.Add([]byte("channels: {}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAuthorisation(b)
		if err != nil {
			return
		}
		for no, ch := range a.Channels {
			if len(ch.prefixes) != len(ch.Addresses) {
				t.Fatalf("channel %s: %d prefixes for %d addresses", no, len(ch.prefixes), len(ch.Addresses))
			}
			// An authorised channel answers for every listed operation from a listed address.
			for _, op := range ch.Operations {
				from := "192.0.2.1"
				if len(ch.prefixes) > 0 {
					from = ch.prefixes[0].Addr().String()
				}
				if code, _ := a.check(no, protocol.Op(op), "", from); code != "" {
					t.Fatalf("channel %s op %s from %s refused %s", no, op, from, code)
				}
			}
		}
	})
}

// FuzzServeOp: whatever a client sends, the sandbox answers a signed envelope.
func FuzzServeOp(f *testing.F) {
	kd, err := OpenKeyDir(f.TempDir(), []string{DefaultChannel}, nil, true)
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(Options{PlatformKey: kd.Platform, Channels: kd.Channels})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	chKey := protocol.TestKey(protocol.TestChannelLabel(DefaultChannel))
	for _, data := range []string{`{"terminalId":"T","orderNo":"A1"}`, `{"records":[{"recordId":"1","kind":"credential","record":"x"}]}`, `{}`} {
		r := &protocol.Request{RequestID: protocol.NewRequestID(), Timestamp: protocol.FormatTime(time.Now()), ChannelNo: DefaultChannel, Data: data}
		_ = (protocol.Scheme{}).SignRequest(chKey, r)
		b, _ := protocol.Marshal(r)
		f.Add(b, uint8(0))
	}
	f.Add([]byte(`{"requestId":1}`), uint8(3))
	paths := []string{}
	for p := range s.routes {
		paths = append(paths, p)
	}
	f.Fuzz(func(t *testing.T, body []byte, pi uint8) {
		p := paths[int(pi)%len(paths)]
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", p, strings.NewReader(string(body))))
		_, fields, err := protocol.ParseResponse(w.Body.Bytes())
		if err != nil {
			t.Fatalf("answer is not an envelope: %v %q", err, w.Body.Bytes())
		}
		if err := (protocol.Scheme{}).VerifyFields(kd.Platform.Public(), fields); err != nil {
			t.Fatalf("answer not signed: %v", err)
		}
	})
}
