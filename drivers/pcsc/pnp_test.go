//go:build cgo && linux

package pcsc

import (
	"context"
	"testing"

	"github.com/sscagent/sscagent/internal/labtest"
)

// TestPnPSupported: pcscd offers the PnP notification reader, so Watch waits without
// a timer (no polling while idle).
func TestPnPSupported(t *testing.T) {
	labtest.SharedPCSCD(t, "Holder")
	sys, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	if _, err := sys.Watch(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := sys.(*system)
	if !s.pnp || s.states[0].Reader != pnpReader {
		t.Fatalf("PnP reader not used: pnp %v, states %+v", s.pnp, s.states)
	}
}
