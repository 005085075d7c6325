package hid

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrNotFound means no input device matches the configuration (the scanner is unplugged
// or the match is wrong). The caller retries with backoff.
var ErrNotFound = errors.New("hid: no matching input device")

// Info describes an input device as sysfs shows it.
type Info struct {
	// Path is the event device node, /dev/input/eventN.
	Path    string
	Name    string
	Vendor  string // 4 lowercase hex digits
	Product string // 4 lowercase hex digits
	// Keyboard is true when the device has letter keys and Enter (a scanner's keyboard
	// interface, not its consumer-control or mouse sibling).
	Keyboard bool
}

// Roots of the sysfs and devfs trees; tests point them at a fake tree.
type Roots struct {
	Sys string // default /sys
	Dev string // default /dev
}

func (r Roots) orDefault() Roots {
	if r.Sys == "" {
		r.Sys = "/sys"
	}
	if r.Dev == "" {
		r.Dev = "/dev"
	}
	return r
}

// List returns every event device under roots, ordered by event number.
func List(r Roots) ([]Info, error) {
	r = r.orDefault()
	dirs, err := filepath.Glob(filepath.Join(r.Sys, "class", "input", "event*"))
	if err != nil {
		return nil, fmt.Errorf("hid: list input devices: %w", err)
	}
	sort.Slice(dirs, func(i, j int) bool { return eventNumber(dirs[i]) < eventNumber(dirs[j]) })
	var out []Info
	for _, d := range dirs {
		read := func(rel string) string {
			b, _ := os.ReadFile(filepath.Join(d, "device", rel))
			return strings.TrimSpace(string(b))
		}
		out = append(out, Info{
			Path:     filepath.Join(r.Dev, "input", filepath.Base(d)),
			Name:     read("name"),
			Vendor:   strings.ToLower(read("id/vendor")),
			Product:  strings.ToLower(read("id/product")),
			Keyboard: hasKeys(read("capabilities/key"), keyEnter, 30 /* KEY_A */, 44 /* KEY_Z */),
		})
	}
	return out, nil
}

// eventNumber extracts N from ".../eventN" for ordering (event10 after event9).
func eventNumber(p string) int {
	n := 0
	for _, c := range strings.TrimPrefix(filepath.Base(p), "event") {
		if c < '0' || c > '9' {
			return n
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// hasKeys reports whether a sysfs capability bitmap (hex C longs, most significant first,
// separated by spaces) has every given bit set.
func hasKeys(bitmap string, codes ...int) bool {
	words := strings.Fields(bitmap)
	bits := 8 * longSize
	for _, c := range codes {
		i := len(words) - 1 - c/bits // the last word holds bits 0..bits-1
		if i < 0 {
			return false
		}
		w, err := strconv.ParseUint(words[i], 16, 64)
		if err != nil || w&(1<<(c%bits)) == 0 {
			return false
		}
	}
	return len(words) > 0
}

// Find returns the event device the configuration designates: Device as given, or the
// first keyboard-capable device whose name matches the Name glob and whose ids equal
// Vendor and Product (each condition only when set).
func Find(c Config, r Roots) (string, error) {
	if c.Device != "" {
		if _, err := os.Stat(c.Device); err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrNotFound, c.Device, err)
		}
		return c.Device, nil
	}
	infos, err := List(r)
	if err != nil {
		return "", err
	}
	for _, in := range infos {
		if Matches(c, in) {
			return in.Path, nil
		}
	}
	return "", fmt.Errorf("%w (%s)", ErrNotFound, describeMatch(c))
}

// Matches reports whether the device in satisfies c's name and id conditions and can
// type codes.
func Matches(c Config, in Info) bool {
	if !in.Keyboard {
		return false
	}
	if c.Name != "" {
		if ok, _ := path.Match(c.Name, in.Name); !ok {
			return false
		}
	}
	if c.Vendor != "" && !strings.EqualFold(c.Vendor, in.Vendor) {
		return false
	}
	return c.Product == "" || strings.EqualFold(c.Product, in.Product)
}

func describeMatch(c Config) string {
	var parts []string
	if c.Name != "" {
		parts = append(parts, fmt.Sprintf("name %q", c.Name))
	}
	if c.Vendor != "" || c.Product != "" {
		parts = append(parts, fmt.Sprintf("id %s:%s", c.Vendor, c.Product))
	}
	return strings.Join(parts, ", ")
}
