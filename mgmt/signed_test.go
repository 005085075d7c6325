package mgmt

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/internal/signing"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/signed (new keys and signatures)")

func mustKey(t testing.TB, alg signing.Algorithm) *signing.PrivateKey {
	t.Helper()
	k, err := signing.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var t0 = time.Date(2026, 11, 24, 16, 7, 24, 0, time.UTC)

func signedRequest(t testing.TB, k *signing.PrivateKey, r Request) []byte {
	t.Helper()
	b, err := SignRequest(k, r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func okRequest() Request {
	return Request{Terminal: "T-1", ID: "c-1", Name: "ping", IssuedAt: t0, ExpiresAt: t0.Add(30 * time.Second)}
}

// TestGuardRequests runs every refusal rule on commands, and what a terminal without
// pinned keys does.
func TestGuardRequests(t *testing.T) {
	mk, other := mustKey(t, signing.SM2), mustKey(t, signing.Ed25519)
	g := guard{keys: signing.Keyring{mk.Public()}, terminal: "T-1", skew: 5 * time.Minute}
	check := func(name, id string, msg []byte, now time.Time, want string) {
		t.Helper()
		payload, signed, ref := g.open(msg, TypeCommand, MaxCommandSize)
		if ref == nil && signed {
			r, err := DecodeRequest(payload)
			if err != nil {
				ref = refuse(RefusedMalformed, "%v", err)
			} else {
				ref = g.request(id, r, now)
			}
		}
		got := ""
		if ref != nil {
			got = ref.Reason
			if ref.Detail == "" {
				t.Errorf("%s: refusal without detail", name)
			}
		}
		if got != want {
			t.Errorf("%s: refusal %q (%v), want %q", name, got, ref, want)
		}
	}
	good := signedRequest(t, mk, okRequest())
	check("genuine", "c-1", good, t0.Add(time.Second), "")
	check("clock 4m behind the manager", "c-1", good, t0.Add(-4*time.Minute), "")
	check("clock 4m ahead, after expiry", "c-1", good, t0.Add(4*time.Minute), "")
	check("unsigned", "c-1", []byte(`{"v":1,"name":"ping"}`), t0, RefusedUnsigned)
	check("not JSON", "c-1", []byte(`{"v":1,`), t0, RefusedMalformed)
	check("own key of the attacker", "c-1", signedRequest(t, other, okRequest()), t0, RefusedUnknownKey)
	check("other terminal", "c-1", signedRequest(t, mk, func() Request { r := okRequest(); r.Terminal = "T-2"; return r }()), t0, RefusedForeign)
	check("id of another topic", "c-2", good, t0, RefusedMismatch)
	check("expired", "c-1", good, t0.Add(30*time.Second+5*time.Minute+time.Second), RefusedExpired)
	check("issued in the future", "c-1", good, t0.Add(-6*time.Minute), RefusedNotYetValid)

	var e Envelope
	json.Unmarshal(good, &e)
	reseal := func(mut func(*Envelope)) []byte {
		c := e
		c.Payload = append([]byte(nil), e.Payload...)
		mut(&c)
		b, _ := json.Marshal(c)
		return b
	}
	check("tampered payload", "c-1", reseal(func(c *Envelope) {
		c.Payload = bytes.Replace(c.Payload, []byte(`"ping"`), []byte(`"pong"`), 1)
	}), t0, RefusedBadSignature)
	check("signature of another message", "c-1", reseal(func(c *Envelope) {
		var o Envelope
		r := okRequest()
		r.Name = "restart"
		json.Unmarshal(signedRequest(t, mk, r), &o)
		c.Sig = o.Sig
	}), t0, RefusedBadSignature)
	check("another key claiming the pinned id", "c-1", reseal(func(c *Envelope) {
		o, _ := mustKey(t, signing.SM2).Sign(c.Payload)
		c.Sig = o
	}), t0, RefusedBadSignature)
	check("wrong alg", "c-1", reseal(func(c *Envelope) { c.Alg = "ed25519" }), t0, RefusedBadSignature)
	check("bad key id", "c-1", reseal(func(c *Envelope) { c.KeyID = "XYZ" }), t0, RefusedMalformed)
	check("no signature", "c-1", reseal(func(c *Envelope) { c.Sig = nil }), t0, RefusedMalformed)
	check("payload with a key twice", "c-1", reseal(func(c *Envelope) {
		c.Payload = append(bytes.TrimSuffix(c.Payload, []byte("}")), []byte(`,"Terminal":"T-1"}`)...)
		c.Sig, _ = mk.Sign(c.Payload)
	}), t0, RefusedMalformed)
	check("config on a command topic", "c-1", func() []byte {
		b, _ := SignDesired(mk, Desired{Terminal: "T-1", Version: 1, IssuedAt: t0})
		return b
	}(), t0, RefusedMismatch)
	check("no expiry", "c-1", reseal(func(c *Envelope) {
		r := okRequest()
		r.V, r.Type, r.ExpiresAt = 1, TypeCommand, time.Time{}
		c.Payload, _ = json.Marshal(r)
		c.Sig, _ = mk.Sign(c.Payload)
	}), t0, RefusedWindow)
	if _, err := SignRequest(mk, func() Request { r := okRequest(); r.ExpiresAt = t0.Add(2 * time.Hour); return r }()); err == nil {
		t.Error("a two-hour request was signed")
	}

	// Rotation: two pinned keys, either verifies.
	g.keys = signing.Keyring{other.Public(), mk.Public()}
	check("second pinned key", "c-1", good, t0, "")
	check("first pinned key", "c-1", signedRequest(t, other, okRequest()), t0, "")

	// No keys: a test terminal takes unsigned messages (and signed ones, unverified but
	// bound); any other terminal refuses everything.
	g.keys, g.test = nil, true
	check("lab: unsigned", "c-1", []byte(`{"v":1,"name":"ping"}`), t0, "")
	check("lab: signed", "c-1", good, t0, "")
	check("lab: signed for another terminal", "c-1", signedRequest(t, mk, func() Request { r := okRequest(); r.Terminal = "T-2"; return r }()), t0, RefusedForeign)
	g.test = false
	check("production without keys: unsigned", "c-1", []byte(`{"v":1,"name":"ping"}`), t0, RefusedNoKeys)
	check("production without keys: signed", "c-1", good, t0, RefusedNoKeys)
}

func TestGuardDesired(t *testing.T) {
	mk := mustKey(t, signing.Ed25519)
	g := guard{keys: signing.Keyring{mk.Public()}, terminal: "T-1", skew: time.Minute}
	doc := "log:\n  level: debug\n"
	d := Desired{Terminal: "T-1", Version: 7, Config: doc, SHA256: rollout.Hash([]byte(doc)), IssuedAt: t0}
	b, err := SignDesired(mk, d)
	if err != nil {
		t.Fatal(err)
	}
	open := func(b []byte, now time.Time) (Desired, *Refusal) {
		payload, signed, ref := g.open(b, TypeConfig, MaxDesiredSize)
		if ref != nil || !signed {
			return Desired{}, ref
		}
		got, err := DecodeDesired(payload)
		if err != nil {
			t.Fatal(err)
		}
		return got, g.desired(got, now)
	}
	// A configuration has no expiry: a terminal that was away for a month takes the
	// retained document (its version protects against replays).
	got, ref := open(b, t0.Add(30*24*time.Hour))
	if ref != nil || got.Version != 7 || got.Config != doc {
		t.Fatalf("genuine: %+v %v", got, ref)
	}
	if _, ref := open(b, t0.Add(-2*time.Minute)); ref == nil || ref.Reason != RefusedNotYetValid {
		t.Fatalf("from the future: %v", ref)
	}
	d.Terminal = "T-9"
	b2, _ := SignDesired(mk, d)
	if _, ref := open(b2, t0); ref == nil || ref.Reason != RefusedForeign {
		t.Fatalf("foreign: %v", ref)
	}
	r, _ := SignRequest(mk, okRequest())
	if _, ref := open(r, t0); ref == nil || ref.Reason != RefusedMismatch {
		t.Fatalf("command on the desired topic: %v", ref)
	}
	// The manager's view reads both forms.
	if rd, err := ReadDesired(b); err != nil || rd.Version != 7 {
		t.Fatalf("ReadDesired signed: %+v %v", rd, err)
	}
	plain, _ := json.Marshal(Desired{V: 1, Version: 3, Config: doc})
	if rd, err := ReadDesired(plain); err != nil || rd.Version != 3 {
		t.Fatalf("ReadDesired unsigned: %+v %v", rd, err)
	}
}

func TestCheckJSON(t *testing.T) {
	for in, ok := range map[string]bool{
		`{"a":1,"b":{"a":2,"c":[{"a":1},{"a":2}]},"c":[]}`: true,
		`[1,{"x":{}},"y"]`:    true,
		`{"a":1,"a":2}`:       false,
		`{"a":{"b":1,"b":1}}`: false,
		`{"name":1,"NAME":2}`: false,
		`{"k":1,"\u212a":2}`:  false, // KELVIN SIGN folds to k, as encoding/json matches it
		`{"a":1} {"b":2}`:     false,
		`{"a":`:               false,
	} {
		if err := checkJSON([]byte(in)); (err == nil) != ok {
			t.Errorf("%s: %v", in, err)
		}
	}
}

// TestSeenBounded: the remembered ids are bounded, and forgetting an id whose request
// has not expired raises the floor so that the request cannot be replayed.
func TestSeenBounded(t *testing.T) {
	dir := t.TempDir()
	s := openSeen(dir, 3)
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Second)
		if err := s.add(seenID{ID: string(rune('a' + i)), Issued: at, Until: at.Add(time.Minute)}, t0); err != nil {
			t.Fatal(err)
		}
	}
	if s.has("a") || s.has("b") || !s.has("e") {
		t.Fatal("not bounded to the last 3")
	}
	if f := s.floor(); !f.Equal(t0.Add(time.Second)) {
		t.Fatalf("floor %s", f)
	}
	// Persisted, and the list of earlier versions still reads.
	if r := openSeen(dir, 3); !r.has("e") || !r.floor().Equal(s.floor()) {
		t.Fatal("not persisted")
	}
	os.WriteFile(filepath.Join(dir, "commands.json"), []byte(`["x","y"]`), 0o600)
	if r := openSeen(dir, 3); !r.has("x") || !r.has("y") {
		t.Fatal("old format not read")
	}
	// An id forgotten after its expiry leaves the floor alone.
	s2 := openSeen(t.TempDir(), 1)
	s2.add(seenID{ID: "a", Issued: t0, Until: t0.Add(time.Minute)}, t0)
	s2.add(seenID{ID: "b", Issued: t0, Until: t0.Add(time.Minute)}, t0.Add(time.Hour))
	if !s2.floor().IsZero() {
		t.Fatalf("floor after an expired id %s", s2.floor())
	}
}

func FuzzParseEnvelope(f *testing.F) {
	mk := mustKey(f, signing.SM2)
	f.Add(signedRequest(f, mk, okRequest()))
	d, _ := SignDesired(mk, Desired{Terminal: "T-1", Version: 1, IssuedAt: t0, Config: "a: 1\n"})
	f.Add(d)
	f.Add([]byte(`{"v":1,"name":"ping"}`))
	f.Add([]byte(`{"v":1,"alg":"sm2","keyId":"0011223344556677","payload":"e30=","sig":"AA=="}`))
	f.Add([]byte(`{"v":1,"payload":"!!"}`))
	g := guard{keys: signing.Keyring{mk.Public()}, terminal: "T-1", skew: time.Minute}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, signed, err := ParseEnvelope(b, envelopeLimit(MaxDesiredSize))
		if err == nil && signed {
			if !isKeyID(e.KeyID) || len(e.Payload) == 0 || len(e.Sig) == 0 || checkJSON(e.Payload) != nil {
				t.Fatalf("accepted a bad envelope: %+v", e)
			}
		}
		// The guard never takes what the pinned key did not sign.
		payload, ok, ref := g.open(b, TypeConfig, MaxDesiredSize)
		if ref == nil {
			if !ok || mk.Public().Verify(payload, e.Sig) != nil {
				t.Fatalf("took %q", b)
			}
		}
	})
}

// The worked vectors of docs/mgmt-protocol.md §10.1, in testdata/signed: a manager key
// of each algorithm (test keys, published here), and for each a command and a
// configuration document as they travel (NAME.json) with their signed bytes
// (NAME.payload).
var vectors = []struct {
	name string
	alg  signing.Algorithm
}{
	{"sm2-command", signing.SM2},
	{"sm2-config", signing.SM2},
	{"ed25519-command", signing.Ed25519},
}

func vectorRequest() Request {
	return Request{Terminal: "KIOSK-350100-0001", ID: "c1795536444-74b12b3c", Name: "log.level",
		Args: json.RawMessage(`{"level":"debug"}`), Timeout: 10, IssuedAt: t0, ExpiresAt: t0.Add(30 * time.Second)}
}

func vectorDesired() Desired {
	doc := "log:\n  level: debug\n"
	return Desired{Terminal: "KIOSK-350100-0001", Version: 8, Config: doc, SHA256: rollout.Hash([]byte(doc)),
		IssuedAt: t0, IssuedBy: "alice@tms-01"}
}

func writeVectors(t *testing.T, dir string) {
	keys := map[signing.Algorithm]*signing.PrivateKey{}
	for _, alg := range []signing.Algorithm{signing.SM2, signing.Ed25519} {
		k := mustKey(t, alg)
		keys[alg] = k
		priv, _ := k.MarshalPEM()
		pub, _ := k.Public().MarshalPEM()
		os.WriteFile(filepath.Join(dir, string(alg)+".key.pem"), priv, 0o600)
		os.WriteFile(filepath.Join(dir, string(alg)+".pub.pem"), pub, 0o644)
	}
	for _, v := range vectors {
		var b []byte
		var err error
		if strings.HasSuffix(v.name, "config") {
			b, err = SignDesired(keys[v.alg], vectorDesired())
		} else {
			b, err = SignRequest(keys[v.alg], vectorRequest())
		}
		if err != nil {
			t.Fatal(err)
		}
		var e Envelope
		json.Unmarshal(b, &e)
		var pretty bytes.Buffer
		json.Indent(&pretty, b, "", "  ")
		pretty.WriteByte('\n')
		os.WriteFile(filepath.Join(dir, v.name+".json"), pretty.Bytes(), 0o644)
		os.WriteFile(filepath.Join(dir, v.name+".payload"), e.Payload, 0o644)
	}
}

// TestSignedVectors checks the worked vectors three ways: the terminal's guard takes
// them; OpenSSL 3 verifies each signature over bytes that jq and base64 cut out of the
// message (no Go involved); and those bytes are the NAME.payload file, the documented
// signed content.
func TestSignedVectors(t *testing.T) {
	dir := filepath.Join("testdata", "signed")
	if *updateVectors {
		os.MkdirAll(dir, 0o755)
		writeVectors(t, dir)
	}
	labtest.Require(t, "openssl", "jq", "base64")
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			read := func(name string) []byte {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			msg, want := read(v.name+".json"), read(v.name+".payload")
			pub, err := signing.ParsePublicKey(read(string(v.alg) + ".pub.pem"))
			if err != nil {
				t.Fatal(err)
			}
			g := guard{keys: signing.Keyring{pub}, terminal: "KIOSK-350100-0001", skew: time.Minute}
			typ := TypeCommand
			if strings.HasSuffix(v.name, "config") {
				typ = TypeConfig
			}
			payload, signed, ref := g.open(msg, typ, MaxDesiredSize)
			if ref != nil || !signed || !bytes.Equal(payload, want) {
				t.Fatalf("guard: %v signed=%v", ref, signed)
			}
			if strings.HasSuffix(v.name, "config") {
				d, err := DecodeDesired(payload)
				if err != nil || g.desired(d, t0) != nil || d.Version != 8 {
					t.Fatalf("config %+v %v", d, err)
				}
			} else {
				r, err := DecodeRequest(payload)
				if err != nil || g.request("c1795536444-74b12b3c", r, t0) != nil || r.Name != "log.level" {
					t.Fatalf("command %+v %v", r, err)
				}
			}
			// Independently of Go: cut the signed bytes and the signature out with jq
			// and base64, verify with OpenSSL, and compute the key id from OpenSSL's DER.
			work := t.TempDir()
			sh := func(script string) string {
				t.Helper()
				cmd := exec.Command("sh", "-ec", script)
				cmd.Dir = work
				cmd.Env = append(os.Environ(), "VEC="+mustAbs(t, filepath.Join(dir, v.name+".json")),
					"PUB="+mustAbs(t, filepath.Join(dir, string(v.alg)+".pub.pem")))
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s: %v\n%s", script, err, out)
				}
				return strings.TrimSpace(string(out))
			}
			sh(`jq -r .payload "$VEC" | base64 -d > msg; jq -r .sig "$VEC" | base64 -d > sig`)
			if got, _ := os.ReadFile(filepath.Join(work, "msg")); !bytes.Equal(got, want) {
				t.Fatalf("the bytes base64 -d gives differ from %s.payload", v.name)
			}
			verify := `openssl pkeyutl -verify -pubin -inkey "$PUB" -rawin -in msg -sigfile sig`
			if v.alg == signing.SM2 {
				verify = `openssl dgst -sm3 -verify "$PUB" -sigopt distid:1234567812345678 -signature sig msg`
			}
			if out := sh(verify); !strings.Contains(out, "Verified") {
				t.Fatalf("openssl: %s", out)
			}
			if id, keyID := sh(`openssl pkey -pubin -in "$PUB" -outform DER | sha256sum | cut -c1-16`), sh(`jq -r .keyId "$VEC"`); id != keyID || id != pub.ID() {
				t.Fatalf("key id: openssl %s, message %s, Go %s", id, keyID, pub.ID())
			}
			// A flipped byte of the payload does not verify with OpenSSL either.
			sh(`printf 'X' | dd of=msg bs=1 seek=10 conv=notrunc 2>/dev/null`)
			cmd := exec.Command("sh", "-ec", verify)
			cmd.Dir, cmd.Env = work, append(os.Environ(), "PUB="+mustAbs(t, filepath.Join(dir, string(v.alg)+".pub.pem")))
			if out, err := cmd.CombinedOutput(); err == nil {
				t.Fatalf("openssl verified a tampered payload: %s", out)
			}
		})
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestManagerWithoutGo: a manager made of OpenSSL and jq alone (the recipe of
// docs/mgmt-protocol.md §10.1) produces a command this terminal takes.
func TestManagerWithoutGo(t *testing.T) {
	labtest.Require(t, "openssl", "jq", "base64", "sha256sum")
	dir := t.TempDir()
	script := `
openssl genpkey -algorithm SM2 -out k.pem
openssl pkey -in k.pem -pubout -out pub.pem
KEYID=$(openssl pkey -pubin -in pub.pem -outform DER | sha256sum | cut -c1-16)
printf '{"v":1,"type":"command","terminal":"T-1","id":"c-1","issuedAt":"2026-11-24T16:07:24Z","name":"ping","expiresAt":"2026-11-24T16:07:54Z"}' > payload.json
openssl dgst -sm3 -sign k.pem -sigopt distid:1234567812345678 -out sig payload.json
jq -n --rawfile p payload.json --arg s "$(base64 -w0 sig)" --arg k "$KEYID" \
   '{v:1, alg:"sm2", keyId:$k, payload:($p|@base64), sig:$s}' > msg.json
`
	cmd := exec.Command("sh", "-ec", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	pubPEM, _ := os.ReadFile(filepath.Join(dir, "pub.pem"))
	msg, _ := os.ReadFile(filepath.Join(dir, "msg.json"))
	pub, err := signing.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	g := guard{keys: signing.Keyring{pub}, terminal: "T-1", skew: time.Minute}
	payload, signed, ref := g.open(msg, TypeCommand, MaxCommandSize)
	if ref != nil || !signed {
		t.Fatalf("refused: %v\n%s", ref, msg)
	}
	r, err := DecodeRequest(payload)
	if err != nil || g.request("c-1", r, t0) != nil || r.Name != "ping" {
		t.Fatalf("request %+v %v", r, err)
	}
}
