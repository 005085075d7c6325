package queue

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm3"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/credential"
	"github.com/sscagent/sscagent/internal/labtest"
)

const queueCredential = "sscagent-queue"

func randomSecret(t testing.TB) []byte {
	s := make([]byte, 32)
	if _, err := rand.Read(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func sealedSource(dir string) KeySource {
	c := DefaultConfig()
	c.KeySecret = config.SecretFile(credential.Prefix + queueCredential)
	return c.KeySource(dir)
}

// fileNames lists the files under dir, relative to it.
func fileNames(t testing.TB, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// copyState copies the files of a state directory to a new directory (the stolen disk).
func copyState(t testing.TB, src string) string {
	dst := t.TempDir()
	for _, rel := range fileNames(t, src) {
		b, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, rel), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// noKeyMaterial fails t if any file under dir holds one of the secrets, raw or in hex.
func noKeyMaterial(t testing.TB, dir string, secrets map[string][]byte) {
	t.Helper()
	for _, rel := range fileNames(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		lower := bytes.ToLower(b)
		for what, s := range secrets {
			if bytes.Contains(b, s) || bytes.Contains(lower, []byte(hex.EncodeToString(s))) {
				t.Errorf("%s holds the %s", rel, what)
			}
		}
	}
}

// TestStolenDisk: a queue whose key is wrapped under a systemd credential (sealed and
// decrypted by the real systemd-creds). A copy of its state directory opens nothing
// without the credential: a clear error, no key made, no body read; a configuration
// without keySecret or another secret are refused too. No file holds the secret, the
// queue key, the wrapping key or a body in clear. With the credential the copy opens
// with every record.
func TestStolenDisk(t *testing.T) {
	secret := randomSecret(t)
	creds := labtest.SealCredentials(t, map[string][]byte{queueCredential: secret})
	state := t.TempDir()
	key, from, err := sealedSource(state).Load(true)
	if err != nil || from != KeyFromWrapped {
		t.Fatalf("first start: %v %v", from, err)
	}
	bodies := []string{`{"aac147":"350102199001011234","name":"张三"}`, `{"amount":1250,"payer":"李四"}`}
	q := openQ(t, filepath.Join(state, FileName), Options{Key: key})
	for i, b := range bodies {
		if _, err := q.Put(context.Background(), Entry{Lane: []Lane{LaneIdentity, LaneMoney}[i], Kind: "credential", Body: []byte(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, "queue.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a plain queue.key in the state directory: %v", err)
	}
	salt, _, err := parseWrap(must(os.ReadFile(filepath.Join(state, WrapFileName))))
	if err != nil {
		t.Fatal(err)
	}
	kek, _ := hkdf.Key(sm3.New, secret, salt, wrapLabel, 16)
	noKeyMaterial(t, state, map[string][]byte{"credential secret": secret, "queue key": key, "wrapping key": kek,
		"first body": []byte(bodies[0]), "second body": []byte(bodies[1])})

	stolen := copyState(t, state)
	before := fileNames(t, stolen)
	t.Setenv(credential.EnvDir, "") // another machine: no systemd to hand the credential over
	for _, create := range []bool{true, false} {
		_, _, err = sealedSource(stolen).Load(create)
		if !errors.Is(err, credential.ErrUnavailable) || !strings.Contains(err.Error(), "queue.keySecret") {
			t.Fatalf("without the credential (create %v): %v", create, err)
		}
	}
	plain := DefaultConfig().KeySource(stolen)
	if _, _, err := plain.Load(true); !errors.Is(err, ErrKeyWrapped) {
		t.Fatalf("a configuration without keySecret: %v", err)
	}
	if after := fileNames(t, stolen); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Fatalf("files changed: %v, then %v", before, after)
	}
	if _, err := Open(filepath.Join(stolen, FileName), Options{Terminal: "SSC-T-0001", Key: randomSecret(t)[:16]}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("a guessed key: %v", err)
	}
	ro, err := Open(filepath.Join(stolen, FileName), Options{Terminal: "SSC-T-0001", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.List(LaneIdentity, 10, true); !errors.Is(err, ErrNoKey) {
		t.Fatalf("bodies without a key: %v", err)
	}
	_ = ro.Close()

	labtest.SealCredentials(t, map[string][]byte{queueCredential: randomSecret(t)}) // the thief's own credential
	if _, _, err := sealedSource(stolen).Load(true); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("another secret: %v", err)
	}

	t.Setenv(credential.EnvDir, creds.Dir)
	k2, from, err := sealedSource(stolen).Load(false)
	if err != nil || from != KeyFromWrapped || !bytes.Equal(k2, key) {
		t.Fatalf("with the credential: %v %v", from, err)
	}
	q = openQ(t, filepath.Join(stolen, FileName), Options{Key: k2})
	var got []string
	for _, lane := range []Lane{LaneIdentity, LaneMoney} {
		recs, err := q.List(lane, 10, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			got = append(got, string(r.Body))
		}
	}
	if strings.Join(got, "|") != strings.Join(bodies, "|") {
		t.Fatalf("records %q, want %q", got, bodies)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestKeyMigration: a plain key file is wrapped at the first start with keySecret and
// deleted; the records written under it stay readable. Without create nothing is
// written. A plain file left by a crash after the wrap is removed when it holds the same
// key and refused when it holds another.
func TestKeyMigration(t *testing.T) {
	labtest.SealCredentials(t, map[string][]byte{queueCredential: randomSecret(t)})
	state := t.TempDir()
	plainKey, err := LoadKey(config.SecretFile(filepath.Join(state, "queue.key")), true)
	if err != nil {
		t.Fatal(err)
	}
	q := openQ(t, filepath.Join(state, FileName), Options{Key: plainKey})
	mustPut(t, q, LaneIdentity, "before the migration")
	_ = q.Close()
	src := sealedSource(state)
	if k, from, err := src.Load(false); err != nil || from != KeyFromPlain || !bytes.Equal(k, plainKey) {
		t.Fatalf("read-only before migrating: %v %v", from, err)
	}
	if _, err := os.Stat(src.Wrapped); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only load wrote %s", src.Wrapped)
	}
	k, from, err := src.Load(true)
	if err != nil || from != KeyFromMigrated || !bytes.Equal(k, plainKey) {
		t.Fatalf("migration: %v %v", from, err)
	}
	if _, err := os.Stat(string(src.Plain)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("plain key still there: %v", err)
	}
	q = openQ(t, filepath.Join(state, FileName), Options{Key: k})
	if recs, err := q.List(LaneIdentity, 10, true); err != nil || len(recs) != 1 || string(recs[0].Body) != "before the migration" {
		t.Fatalf("records after migrating: %v %v", recs, err)
	}
	_ = q.Close()
	// A crash between writing the wrapped key and deleting the plain one.
	if err := writeKey(string(src.Plain), []byte(hex.EncodeToString(plainKey))); err != nil {
		t.Fatal(err)
	}
	if _, from, err := src.Load(true); err != nil || from != KeyFromWrapped {
		t.Fatalf("leftover plain key: %v %v", from, err)
	}
	if _, err := os.Stat(string(src.Plain)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover plain key kept: %v", err)
	}
	if err := writeKey(string(src.Plain), []byte(hex.EncodeToString(testKey))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.Load(true); err == nil || !strings.Contains(err.Error(), "different keys") {
		t.Fatalf("a plain key that differs: %v", err)
	}
	if _, err := os.Stat(string(src.Plain)); err != nil {
		t.Fatalf("a differing plain key was deleted: %v", err)
	}
}

func TestKeySecretTooShort(t *testing.T) {
	labtest.SealCredentials(t, map[string][]byte{queueCredential: []byte("short")})
	if _, _, err := sealedSource(t.TempDir()).Load(true); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("short secret: %v", err)
	}
}

func TestParseWrap(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	w, err := wrapKey(testKey, secret)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := unwrapKey(w, secret); err != nil || !bytes.Equal(k, testKey) {
		t.Fatalf("round trip: %x %v", k, err)
	}
	for _, bad := range []string{"", "\n", string(bytes.TrimSuffix(w, []byte("\n"))), strings.Replace(string(w), "v1", "v2", 1),
		strings.Replace(string(w), "salt=", "salt=00", 1), strings.Replace(string(w), "key=", "key=zz", 1), string(w) + "x"} {
		if _, _, err := parseWrap([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	flip := bytes.Clone(w)
	flip[len(flip)-2] = '0' // the tag's last hex digit, changed
	if w[len(w)-2] == '0' {
		flip[len(flip)-2] = '1'
	}
	if _, err := unwrapKey(flip, secret); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("altered wrapped key: %v", err)
	}
	if _, err := unwrapKey(w, []byte("another secret, 32 bytes long...")); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("another secret: %v", err)
	}
}

func FuzzParseWrap(f *testing.F) {
	w, _ := wrapKey(testKey, []byte("0123456789abcdef"))
	f.Add(w)
	f.Add([]byte(wrapMagic + " salt= key=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		salt, sealed, err := parseWrap(data)
		if err != nil {
			return
		}
		if len(salt) != 16 || len(sealed) != sealOverhead+16 {
			t.Fatalf("parsed %d-byte salt, %d-byte key", len(salt), len(sealed))
		}
		if _, err := unwrapKey(data, []byte("0123456789abcdef")); err != nil && !errors.Is(err, ErrWrongSecret) {
			t.Fatalf("unwrap of a parsed file: %v", err)
		}
	})
}
