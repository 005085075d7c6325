package fleetsim

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/labtest"
)

// The fleet's shared client answers the fleet's own platform in process (nothing
// listens on its address here), and probes any other platform a document names over
// the network, so a push of an unreachable baseURL still fails the health gate.
func TestHealthOwnPlatformInProcess(t *testing.T) {
	dir := t.TempDir()
	own := fmt.Sprintf("127.0.0.1:%d", labtest.FreePort(t))
	app, err := NewApplier(dir, BaseConfig("SIM-00001", "http://"+own, filepath.Join(dir, "state")))
	if err != nil {
		t.Fatal(err)
	}
	app.Client = &http.Client{Transport: ownPlatform{host: own, next: http.DefaultTransport}}
	ctx := context.Background()
	if err := app.Health(ctx); err != nil {
		t.Fatalf("own platform: %v", err)
	}
	dead := fmt.Sprintf("http://127.0.0.1:%d", labtest.FreePort(t))
	if err := app.Apply(ctx, []byte("platform:\n  baseURL: "+dead+"\n")); err != nil {
		t.Fatal(err)
	}
	if err := app.Health(ctx); err == nil || !strings.Contains(err.Error(), "platform unreachable") {
		t.Fatalf("unreachable platform %s: %v", dead, err)
	}
	if err := app.Apply(ctx, []byte("platform:\n  baseURL: http://"+own+"\n")); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := app.Health(cctx); err == nil {
		t.Fatal("health with an ended context passed")
	}
}
