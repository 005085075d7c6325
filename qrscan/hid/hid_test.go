package hid

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// This machine's kernel has no uinput (CONFIG_INPUT_UINPUT is not set), so no virtual
// keyboard can be created. The decoder is tested on input_event byte streams in the
// kernel's layout, as a wedge scanner produces them: MSC_SCAN before each key, SYN
// reports after, real timestamps, shift pressed around capitals.

const (
	evMsc   = 0x04
	mscScan = 0x04
)

// recorder builds an input_event stream with advancing timestamps.
type recorder struct {
	b   []byte
	sec uint64
	us  uint64
}

func (r *recorder) event(typ, code uint16, value int32) {
	r.us += 1500 // a scanner types about one key event every 1.5 ms
	word := func(v uint64) {
		if longSize == 8 {
			r.b = binary.NativeEndian.AppendUint64(r.b, v)
		} else {
			r.b = binary.NativeEndian.AppendUint32(r.b, uint32(v))
		}
	}
	word(r.sec + r.us/1e6)
	word(r.us % 1e6)
	r.b = binary.NativeEndian.AppendUint16(r.b, typ)
	r.b = binary.NativeEndian.AppendUint16(r.b, code)
	r.b = binary.NativeEndian.AppendUint32(r.b, uint32(value))
}

// key types one key as a USB keyboard reports it.
func (r *recorder) key(code uint16, value int32) {
	r.event(evMsc, mscScan, int32(0x70000+int(code)))
	r.event(EvKey, code, value)
	r.event(EvSyn, 0, 0)
}

func (r *recorder) tap(code uint16) {
	r.key(code, KeyPress)
	r.key(code, KeyRelease)
}

// typeText types s on a US layout, holding shift for shifted characters, then Enter.
func (r *recorder) typeText(t testing.TB, s string) {
	t.Helper()
	for _, c := range []byte(s) {
		code, shifted, ok := keyFor(c)
		if !ok {
			t.Fatalf("no key types %q", c)
		}
		if shifted {
			r.key(keyLeftShift, KeyPress)
		}
		r.tap(code)
		if shifted {
			r.key(keyLeftShift, KeyRelease)
		}
	}
	r.tap(keyEnter)
}

func keyFor(c byte) (code uint16, shifted, ok bool) {
	for k, pair := range keys {
		if k >= 55 && k != 57 { // keypad keys: type with the main block instead
			continue
		}
		if pair[0] == c {
			return k, false, true
		}
		if pair[1] == c {
			return k, true, true
		}
	}
	return 0, false, false
}

func decodeAll(b []byte) (string, *Decoder) {
	d := &Decoder{}
	var out []byte
	if n := ParseEvents(b, func(e Event) { out = d.Decode(e, out) }); n != len(b) {
		panic("trailing bytes")
	}
	return string(out), d
}

func TestDecodeRecordedScan(t *testing.T) {
	code := `ESSC:v1/AbCdEf+012_345~!@#$%^&*()[]{};'"\|,.<>/?=-` + "`"
	var r recorder
	r.sec = 1_732_420_000
	r.typeText(t, code)
	got, d := decodeAll(r.b)
	if got != code+"\r" || d.Unmapped != 0 {
		t.Fatalf("decoded %q (unmapped %d), want %q", got, d.Unmapped, code+"\r")
	}
}

func TestDecodeModifiers(t *testing.T) {
	var r recorder
	// Caps lock on: letters upper case, digits unchanged, shift inverts letters.
	r.tap(keyCapsLock)
	r.tap(30) // a -> A
	r.tap(2)  // 1
	r.key(keyRightShift, KeyPress)
	r.tap(30) // shift+a with caps -> a
	r.tap(2)  // !
	r.key(keyRightShift, KeyRelease)
	r.tap(keyCapsLock)
	// Keypad digits and operators; KP Enter.
	r.tap(79) // KP1
	r.tap(82) // KP0
	r.tap(98) // KP/
	r.tap(keyKPEnter)
	// Ctrl+] is GS (0x1D), Ctrl+a is SOH.
	r.key(keyLeftCtrl, KeyPress)
	r.tap(27)
	r.tap(30)
	r.key(keyLeftCtrl, KeyRelease)
	// Alt+keypad decimal codes: 65 = 'A', 20013 = '中'.
	for _, digits := range [][]uint16{{77, 76}, {80, 82, 82, 79, 81}} {
		r.key(keyLeftAlt, KeyPress)
		for _, k := range digits {
			r.tap(k)
		}
		r.key(keyLeftAlt, KeyRelease)
	}
	// Auto-repeat is ignored; Tab, Backspace.
	r.key(31, KeyPress)
	r.key(31, KeyRepeat)
	r.key(31, KeyRelease)
	r.tap(keyTab)
	r.tap(keyBackspace)
	got, d := decodeAll(r.b)
	want := "A1a!10/\r\x1d\x01A中s\t\x08"
	if got != want || d.Unmapped != 0 {
		t.Fatalf("decoded %q (unmapped %d), want %q", got, d.Unmapped, want)
	}
}

func TestDecodeUnmappedKeysBecomeNUL(t *testing.T) {
	var r recorder
	r.tap(30)
	r.tap(59) // F1
	r.key(keyLeftAlt, KeyPress)
	r.tap(30) // Alt+a types no text
	r.key(keyLeftAlt, KeyRelease)
	r.key(keyLeftAlt, KeyPress)
	for range 8 { // Alt+99999999: not a character
		r.tap(73)
	}
	r.key(keyLeftAlt, KeyRelease)
	got, d := decodeAll(r.b)
	if got != "a\x00\x00\x00" || d.Unmapped != 2 {
		t.Fatalf("decoded %q (unmapped %d), want \"a\\x00\\x00\\x00\" and 2 unmapped", got, d.Unmapped)
	}
}

// TestDeviceReadsAcrossPartialEvents feeds a recording through a pipe one odd-sized
// piece at a time, as reads may split it, and checks the text and end of input.
func TestDeviceReadsAcrossPartialEvents(t *testing.T) {
	var r recorder
	r.typeText(t, "HID-Code-01")
	r.typeText(t, "HID-Code-02")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d := NewDevice(pr, "pipe")
	go func() { // owned by the test: ends when the recording is written
		for b := r.b; len(b) > 0; {
			n := min(len(b), 7)
			if _, err := pw.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
		}
		pw.Close()
	}()
	got, err := io.ReadAll(d)
	if !errors.Is(err, ErrRemoved) {
		t.Fatalf("end of input: %v, want ErrRemoved", err)
	}
	if string(got) != "HID-Code-01\rHID-Code-02\r" {
		t.Fatalf("read %q", got)
	}
	d.Close()
}

func TestDeviceCloseUnblocksRead(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	d := NewDevice(pr, "pipe")
	res := make(chan error, 1)
	go func() {
		_, err := d.Read(make([]byte, 16))
		res <- err
	}()
	d.Close()
	select {
	case err := <-res:
		if err == nil || errors.Is(err, ErrRemoved) {
			t.Fatalf("Read after Close returned %v, want a closed error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
}

// fakeInput builds a sysfs/devfs tree with the given devices.
func fakeInput(t *testing.T, devs map[string]Info, keyCaps map[string]string) Roots {
	t.Helper()
	root := t.TempDir()
	r := Roots{Sys: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev")}
	for ev, in := range devs {
		dir := filepath.Join(r.Sys, "class", "input", ev, "device")
		for rel, v := range map[string]string{"name": in.Name, "id/vendor": in.Vendor, "id/product": in.Product,
			"capabilities/key": keyCaps[ev]} {
			p := filepath.Join(dir, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(r.Dev, "input"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r.Dev, "input", ev), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestFind(t *testing.T) {
	// A keyboard bitmap as the kernel prints it: the lowest word last. Bits 28 (Enter),
	// 30 (A) and 44 (Z) are set in "ffffffffffffffff"; the consumer-control sibling has
	// only media keys in a high word.
	keyboard := strings.Repeat("0 ", 4) + "ffffffffffffffff"
	media := "3 0 0 0 0 0 0 0 0 0"
	r := fakeInput(t, map[string]Info{
		"event2":  {Name: "AT Translated Set 2 keyboard", Vendor: "0001", Product: "0001"},
		"event9":  {Name: "Honeywell Imaging 1900 Consumer Control", Vendor: "0c2e", Product: "0b61"},
		"event10": {Name: "Honeywell Imaging 1900", Vendor: "0c2e", Product: "0b61"},
		"event11": {Name: "Newland NLS-HR22", Vendor: "1eab", Product: "1a03"},
	}, map[string]string{"event2": keyboard, "event9": media, "event10": keyboard, "event11": keyboard})

	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Vendor: "0C2E", Product: "0b61"}, "event10"}, // the keyboard interface, not event9
		{Config{Name: "Honeywell*"}, "event10"},
		{Config{Name: "Newland*", Vendor: "1eab"}, "event11"},
		{Config{Vendor: "0001"}, "event2"},
	} {
		got, err := Find(tc.c, r)
		if err != nil || filepath.Base(got) != tc.want {
			t.Errorf("Find(%+v) = %q, %v; want %s", tc.c, got, err, tc.want)
		}
	}
	if _, err := Find(Config{Name: "Zebra*"}, r); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find of an absent scanner: %v, want ErrNotFound", err)
	}
	if _, err := Find(Config{Device: filepath.Join(r.Dev, "input", "event99")}, r); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find of an absent path: %v, want ErrNotFound", err)
	}
	infos, err := List(r)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, in := range infos {
		order = append(order, filepath.Base(in.Path))
	}
	if strings.Join(order, ",") != "event2,event9,event10,event11" {
		t.Errorf("List order %v, want numeric event order", order)
	}
}

func TestHasKeys(t *testing.T) {
	for bitmap, want := range map[string]bool{
		"":                 false,
		"50000000":         true,  // 0x50000000: bits 28 (Enter) and 30 (A)
		"50000000 0":       false, // the same bits one word higher
		"ffffffffffffffff": true,
		"1 0 0":            false,
		"zz":               false,
	} {
		if got := hasKeys(bitmap, keyEnter, 30); got != want {
			t.Errorf("hasKeys(%q) = %v, want %v", bitmap, got, want)
		}
	}
	if hasKeys("50000000", 44) || (longSize == 8 && !hasKeys("100000000000", 44)) {
		t.Error("Z (bit 44) misread")
	}
}

// FuzzDecode feeds arbitrary bytes as input events: the decoder never panics and types
// at most 4 bytes (one UTF-8 character) per event.
func FuzzDecode(f *testing.F) {
	var r recorder
	r.typeText(f, "Seed-01")
	f.Add(r.b)
	f.Add(bytes.Repeat([]byte{0xff}, 3*EventSize+5))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := &Decoder{}
		var out []byte
		events := 0
		ParseEvents(b, func(e Event) {
			events++
			out = d.Decode(e, out)
		})
		if len(out) > 4*events {
			t.Fatalf("%d events typed %d bytes", events, len(out))
		}
	})
}
