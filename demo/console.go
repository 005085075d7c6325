package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
)

// Style is how a console line is coloured on a terminal.
type Style uint8

// Styles.
const (
	Plain  Style = iota
	Good         // a successful outcome (green)
	Bad          // a refusal or failure (red)
	Note         // infrastructure: readers, scanners, links (dim)
	Accent       // the gate, the sandbox's ledger, management (cyan)
	Warn         // something the presenter should look at (yellow)
	Title        // the banner (bold)
)

var ansi = map[Style]string{Good: "\x1b[32m", Bad: "\x1b[31m", Note: "\x1b[2m", Accent: "\x1b[36m", Warn: "\x1b[33m", Title: "\x1b[1m"}

// Console writes the demo's lines: a time, a source tag and the text, one write per
// line so that lines from several goroutines never interleave. It prints only what it
// is given; callers pass masked text (events are masked at their source, ledger records
// through records.Record.Masked).
type Console struct {
	mu    sync.Mutex // guards w
	w     io.Writer
	color bool
	now   func() time.Time
}

// NewConsole returns a console writing to w, with colours when color is set.
func NewConsole(w io.Writer, color bool) *Console {
	return &Console{w: w, color: color, now: time.Now}
}

// ColorFor reports whether colours suit f: a terminal, NO_COLOR unset and TERM not
// "dumb" (https://no-color.org).
func ColorFor(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Line prints one line: "15:04:05.000 tag    text". Control characters in the text
// (a platform's error message could carry terminal escapes) are shown as spaces or '�'.
func (c *Console) Line(tag string, s Style, format string, args ...any) {
	text := strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			return ' '
		case unicode.IsControl(r):
			return '\uFFFD'
		}
		return r
	}, fmt.Sprintf(format, args...))
	ts := c.now().Format("15:04:05.000")
	var b strings.Builder
	switch {
	case c.color && s != Plain:
		fmt.Fprintf(&b, "\x1b[2m%s\x1b[0m %s%-7s %s\x1b[0m\n", ts, ansi[s], tag, text)
	case c.color:
		fmt.Fprintf(&b, "\x1b[2m%s\x1b[0m %-7s %s\n", ts, tag, text)
	default:
		fmt.Fprintf(&b, "%s %-7s %s\n", ts, tag, text)
	}
	c.write(b.String())
}

// Text prints lines as they are (the banner, help, listings).
func (c *Console) Text(s Style, text string) {
	if c.color && s != Plain {
		var b strings.Builder
		for _, l := range strings.SplitAfter(text, "\n") {
			if strings.TrimSpace(l) == "" {
				b.WriteString(l)
				continue
			}
			body, nl := strings.CutSuffix(l, "\n")
			b.WriteString(ansi[s] + body + "\x1b[0m")
			if nl {
				b.WriteString("\n")
			}
		}
		text = b.String()
	}
	c.write(text)
}

func (c *Console) write(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, s)
}

// Event prints one event of the agent's bus.
func (c *Console) Event(e event.Event) {
	text, s := FormatEvent(e)
	c.Line("agent", s, "%s", text)
}

// FormatEvent renders an event as one readable line and picks its style: an outcome
// (an event with prompts) shows the holder's and the operator's texts and the
// maintainer's code; other events are infrastructure notes. The event is already
// masked; values are shortened, never unmasked.
func FormatEvent(e event.Event) (string, Style) {
	var b strings.Builder
	b.WriteString(string(e.Kind))
	where := e.Scene
	if e.Source != "" {
		if where != "" {
			where += "/"
		}
		where += e.Source
	}
	if where != "" {
		fmt.Fprintf(&b, " [%s]", where)
	}
	s := Note
	if p := e.Prompts; p != nil && p.Code != genericOK {
		mark, msg := "✔", p.Holder
		s = Good
		if !e.OK {
			mark, s = "✘", Bad
		}
		fmt.Fprintf(&b, " %s %s", mark, msg)
		if p.Operator != "" && p.Operator != p.Holder {
			fmt.Fprintf(&b, " | 经办: %s", p.Operator)
		}
		if p.Code != "" {
			fmt.Fprintf(&b, " [%s]", p.Code)
		}
	} else if !e.OK {
		s = Warn
	}
	if d := formatData(e.Data); d != "" {
		b.WriteString("  ")
		b.WriteString(d)
	}
	return b.String(), s
}

// genericOK is the code of the general "done" prompt, which infrastructure events (a
// reader attached, a scanner connected) carry: it says nothing worth a line's room.
var genericOK = fmt.Sprintf("%06d", int(prompt.CodeOK))

// formatData renders event data as sorted key=value pairs, each value at most 96
// characters.
func formatData(d map[string]any) string {
	if len(d) == 0 {
		return ""
	}
	parts := make([]string, 0, len(d))
	for _, k := range slices.Sorted(maps.Keys(d)) {
		v := d[k]
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case fmt.Stringer:
			s = x.String()
		case nil:
			continue
		case bool, int, int64, uint64, float64, uint, int32, uint32:
			s = fmt.Sprint(x)
		default:
			j, err := json.Marshal(x)
			if err != nil {
				s = fmt.Sprint(x)
			} else {
				s = string(j)
			}
		}
		if strings.ContainsAny(s, " \t") {
			s = fmt.Sprintf("%q", s)
		}
		parts = append(parts, k+"="+shorten(s, 96))
	}
	return strings.Join(parts, " ")
}

// shorten cuts s to at most n runes, marking the cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// maskErr renders an error for the console: masked free text (an error may quote an
// ID number).
func maskErr(err error) string { return mask.Text(err.Error()) }
