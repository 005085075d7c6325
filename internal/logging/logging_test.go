package logging

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/mask"
)

// TestIDNumberNeverLogged proves that an 18-character ID number does not reach the log
// output unmasked, whichever way it is handed to the logger.
func TestIDNumberNeverLogged(t *testing.T) {
	const id = "11010519491231002X"
	for _, format := range []Format{FormatText, FormatJSON} {
		var buf bytes.Buffer
		log, _ := New(&buf, Config{Level: "debug", Format: format}, false)
		log.Info("read card of " + id)
		log.Info("card", "id", id, "err", errors.New("no record for "+id))
		log.With("holder", id).Warn("x", slog.Group("card", "sid", id, "n", 3))
		log.Info("typed", "id", mask.Of(mask.KindIDNumber, id), "any", struct{ S string }{id})
		log.Error(fmt.Sprintf("%v", []string{id}))
		out := buf.String()
		if strings.Contains(out, id) || strings.Contains(out, id[:17]) {
			t.Fatalf("%s output leaks the ID number:\n%s", format, out)
		}
		if got := strings.Count(out, "002X"); got < 8 {
			t.Errorf("%s: want the masked tail in every line, saw %d:\n%s", format, got, out)
		}
	}
}

func TestLevelVar(t *testing.T) {
	var buf bytes.Buffer
	log, lv := New(&buf, Config{Level: "warn", Format: FormatText}, false)
	log.Info("hidden")
	lv.Set(slog.LevelDebug)
	log.Debug("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "shown") {
		t.Fatalf("level change not applied:\n%s", out)
	}
}

func TestServiceFormatIsJSON(t *testing.T) {
	var buf bytes.Buffer
	log, _ := New(&buf, DefaultConfig(), true)
	log.Info("hello")
	if !strings.HasPrefix(buf.String(), "{") {
		t.Fatalf("want JSON, got %s", buf.String())
	}
}

func TestValidate(t *testing.T) {
	var ps config.Problems
	Config{Level: "loud", Format: "xml"}.Validate("log", &ps)
	if ps.Len() != 2 {
		t.Fatalf("want 2 problems, got %v", ps.List())
	}
}

// TestDurationsReadable: a duration is written as Go prints it ("1.899s"), in JSON too,
// not as a bare count of nanoseconds.
func TestDurationsReadable(t *testing.T) {
	var buf bytes.Buffer
	log, _ := New(&buf, Config{Level: "info", Format: FormatJSON}, true)
	log.Info("retry", "retryIn", 1899*time.Millisecond, slog.Group("g", "uptime", 42*time.Second))
	if s := buf.String(); !strings.Contains(s, `"retryIn":"1.899s"`) || !strings.Contains(s, `"uptime":"42s"`) {
		t.Fatalf("durations: %s", s)
	}
}
