// Package hid reads USB HID keyboard-wedge scanners on Linux through evdev
// (/dev/input/event*). A wedge scanner pretends to be a keyboard and "types" each code
// followed by Enter; read naively, the code would land in whatever window has the focus
// (the kiosk UI). This package takes the device exclusively (EVIOCGRAB), so keystrokes
// reach only the agent, and turns key events back into text with a US keyboard layout:
// shift and caps lock, the keypad, Ctrl+letter control characters and Alt+keypad
// decimal codes. Enter and keypad Enter become CR, so the usual framing applies.
//
// The device is chosen by path (a stable /dev/input/by-id/... link) or found by name
// and/or USB vendor/product id in sysfs, among devices that have letter keys and Enter.
// It is searched again on every open, so a replugged scanner is found under its new
// event number.
//
// Keys the layout does not know become NUL, so a code read with an unknown key is
// rejected as binary input instead of being forwarded changed. The reading is written on
// golang.org/x/sys/unix; no cgo. Windows integrators switch the scanner to serial (USB
// CDC, "virtual COM") mode instead: see docs/qrscan.md.
package hid

import (
	"encoding/hex"
	"path"
	"slices"

	"github.com/sscagent/sscagent/internal/config"
)

// Grab modes.
const (
	// GrabExclusive takes the device with EVIOCGRAB: no other program sees its keys.
	GrabExclusive = "exclusive"
	// GrabShared reads alongside other programs (diagnostics only: codes also reach the
	// desktop).
	GrabShared = "shared"
)

// Config is the "hid" block of a scanner. Give Device, or Name and/or Vendor+Product.
type Config struct {
	// Device is the event device path, ideally a /dev/input/by-id/...-event-kbd link.
	Device string `yaml:"device"`
	// Name is a glob matched against the device name (cat /proc/bus/input/devices).
	Name string `yaml:"name"`
	// Vendor is the USB vendor id, 4 hex digits ("0c2e").
	Vendor string `yaml:"vendor"`
	// Product is the USB product id, 4 hex digits.
	Product string `yaml:"product"`
	// Grab is exclusive or shared. Default exclusive.
	Grab string `yaml:"grab"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Grab == "" {
		c.Grab = GrabExclusive
	}
	return c
}

// Validate implements config.Validator.
func (c Config) Validate(p string, ps *config.Problems) {
	c = c.WithDefaults()
	if c.Device == "" && c.Name == "" && c.Vendor == "" && c.Product == "" {
		ps.Addf(p, "give device, or name and/or vendor and product")
	}
	if _, err := path.Match(c.Name, ""); err != nil {
		ps.Addf(config.Join(p, "name"), "bad pattern %q: %v", c.Name, err)
	}
	for _, f := range []struct{ name, v string }{{"vendor", c.Vendor}, {"product", c.Product}} {
		if b, err := hex.DecodeString(f.v); f.v != "" && (err != nil || len(b) != 2) {
			ps.Addf(config.Join(p, f.name), "must be 4 hex digits such as \"0c2e\", got %q", f.v)
		}
	}
	if !slices.Contains([]string{GrabExclusive, GrabShared}, c.Grab) {
		ps.Addf(config.Join(p, "grab"), "must be exclusive or shared, got %q", c.Grab)
	}
}
