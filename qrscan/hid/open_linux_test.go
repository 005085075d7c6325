package hid

import (
	"errors"
	"strings"
	"testing"
)

// TestOpenGrab opens a character device that is not an input device: the exclusive grab
// (EVIOCGRAB) is refused by the kernel and Open fails, while a shared open succeeds and
// reads the device's end as a removal.
func TestOpenGrab(t *testing.T) {
	_, err := Open(Config{Device: "/dev/null"}, Roots{})
	if err == nil || !strings.Contains(err.Error(), "grab /dev/null") {
		t.Fatalf("exclusive open of /dev/null: %v, want a grab error", err)
	}
	d, err := Open(Config{Device: "/dev/null", Grab: GrabShared}, Roots{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Read(make([]byte, 8)); !errors.Is(err, ErrRemoved) {
		t.Fatalf("read: %v, want ErrRemoved", err)
	}
}
