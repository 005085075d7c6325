package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/fleet"
)

// Row is one terminal in the table.
type Row struct {
	ID         string    `json:"id"`
	Presence   string    `json:"presence"`
	Reason     string    `json:"reason,omitempty"`
	StaleDeath bool      `json:"staleDeath,omitempty"`
	Epoch      uint64    `json:"epoch"`
	Software   string    `json:"software,omitempty"`
	Site       string    `json:"site,omitempty"`
	Committed  uint64    `json:"committed"`
	Version    uint64    `json:"version,omitempty"` // last version processed (reported)
	Rollout    string    `json:"rollout,omitempty"` // its status, or "pending" for a newer desired
	Desired    uint64    `json:"desired,omitempty"`
	Health     string    `json:"health"`
	Problems   []string  `json:"problems,omitempty"`
	Stale      bool      `json:"stale,omitempty"`
	Queue      *int      `json:"queue,omitempty"`
	LastSeen   time.Time `json:"lastSeen,omitzero"`
}

// Rollout status of a terminal whose retained desired version is newer than its report.
const rolloutPending = "pending"

// Query selects, orders and pages the table.
type Query struct {
	// Text is a glob on the id when it has *, ? or [; else a case-insensitive substring
	// of the id, site, software version or a health problem.
	Text     string
	Presence string // online, offline, unknown or "" for all
	Health   string // ok, degraded, unknown or "" for all
	Rollout  string // a rollout status, "pending", or "" for all
	Sort     string // one of sortKeys
	Desc     bool
	Page     int // from 0
	Size     int
}

// Page is one page of the table.
type Page struct {
	Total   int            `json:"total"`   // terminals known
	Matched int            `json:"matched"` // terminals the query selects
	Page    int            `json:"page"`
	Size    int            `json:"size"`
	Sort    string         `json:"sort"`
	Desc    bool           `json:"desc"`
	Counts  map[string]int `json:"counts"` // presence of all terminals
	Synced  bool           `json:"synced"` // the broker's retained messages are in
	Rows    []Row          `json:"rows"`
}

var sortKeys = map[string]func(a, b *Row) int{
	"id":       func(a, b *Row) int { return cmp.Compare(a.ID, b.ID) },
	"presence": func(a, b *Row) int { return cmp.Compare(a.Presence, b.Presence) },
	"epoch":    func(a, b *Row) int { return cmp.Compare(a.Epoch, b.Epoch) },
	"software": func(a, b *Row) int { return cmp.Compare(a.Software, b.Software) },
	"site":     func(a, b *Row) int { return cmp.Compare(a.Site, b.Site) },
	"config": func(a, b *Row) int {
		return cmp.Or(cmp.Compare(a.Committed, b.Committed), cmp.Compare(a.Rollout, b.Rollout))
	},
	"health": func(a, b *Row) int {
		return cmp.Or(cmp.Compare(a.Health, b.Health), cmp.Compare(len(a.Problems), len(b.Problems)))
	},
	"queue":    func(a, b *Row) int { return cmp.Compare(queueOf(a), queueOf(b)) },
	"lastSeen": func(a, b *Row) int { return a.LastSeen.Compare(b.LastSeen) },
}

func queueOf(r *Row) int {
	if r.Queue == nil {
		return -1
	}
	return *r.Queue
}

// Query bounds.
const (
	defaultPageSize = 50
	maxPageSize     = 500
	maxQueryText    = 100
	maxPage         = 1 << 20
)

// ParseQuery reads a Query from URL parameters q, presence, health, rollout, sort,
// desc, page and size; it refuses what it does not know.
func ParseQuery(v url.Values) (Query, error) {
	q := Query{Text: strings.TrimSpace(v.Get("q")), Presence: v.Get("presence"), Health: v.Get("health"),
		Rollout: v.Get("rollout"), Sort: v.Get("sort"), Size: defaultPageSize}
	if len(q.Text) > maxQueryText {
		return q, fmt.Errorf("q: longer than %d bytes", maxQueryText)
	}
	if strings.ContainsAny(q.Text, "*?[") {
		if _, err := path.Match(q.Text, ""); err != nil {
			return q, fmt.Errorf("q: bad pattern %q", q.Text)
		}
	}
	if !slices.Contains([]string{"", fleet.Online, fleet.Offline, fleet.Unknown}, q.Presence) {
		return q, fmt.Errorf("presence: want online, offline or unknown, got %q", q.Presence)
	}
	if !slices.Contains([]string{"", mgmt.HealthOK, mgmt.HealthDegraded, "unknown"}, q.Health) {
		return q, fmt.Errorf("health: want ok, degraded or unknown, got %q", q.Health)
	}
	if len(q.Rollout) > 32 || strings.ContainsFunc(q.Rollout, func(r rune) bool { return r != '-' && (r < 'a' || r > 'z') }) {
		return q, fmt.Errorf("rollout: bad status %q", q.Rollout)
	}
	if q.Sort == "" {
		q.Sort = "id"
	}
	if sortKeys[q.Sort] == nil {
		keys := make([]string, 0, len(sortKeys))
		for k := range sortKeys {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return q, fmt.Errorf("sort: want one of %s, got %q", strings.Join(keys, ", "), q.Sort)
	}
	switch v.Get("desc") {
	case "", "0", "false":
	case "1", "true":
		q.Desc = true
	default:
		return q, errors.New("desc: want 0 or 1")
	}
	var err error
	if q.Page, err = intParam(v, "page", 0, 0, maxPage); err != nil {
		return q, err
	}
	if q.Size, err = intParam(v, "size", defaultPageSize, 1, maxPageSize); err != nil {
		return q, err
	}
	return q, nil
}

func intParam(v url.Values, name string, def, lo, hi int) (int, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s: want a number from %d to %d, got %q", name, lo, hi, s)
	}
	return n, nil
}

// row builds e's table row at now; m.mu must be held.
func (m *Model) row(e *entry, now time.Time) Row {
	t := e.t
	fleet.Judge(&t, now, m.staleAfter)
	r := Row{ID: t.ID, Presence: t.Presence, StaleDeath: t.StaleDeath, Epoch: t.Epoch, Health: t.Health,
		Problems: t.Problems, Stale: t.Stale, LastSeen: e.lastSeen}
	if s := t.State; s != nil {
		if t.Presence == fleet.Offline {
			r.Reason = s.Reason
		}
		if s.Software != nil {
			r.Software = s.Software.Version
		}
		if s.Terminal != nil {
			r.Site = s.Terminal.Site
		}
		if s.Config != nil {
			r.Committed = s.Config.Version
		}
	}
	if tm := t.Telemetry; tm != nil {
		if tm.Queue != nil {
			d := tm.Queue.Depth
			r.Queue = &d
		}
		if tm.Config != nil {
			r.Committed = tm.Config.Version
		}
	}
	if rep := t.Reported; rep != nil {
		r.Committed, r.Version, r.Rollout = rep.Committed.Version, rep.Version, string(rep.Status)
	}
	if e.desired != nil {
		r.Desired = e.desired.Version
		if e.desired.Version > r.Version {
			r.Rollout = rolloutPending
		}
	}
	return r
}

// matches reports whether r is selected by q.
func (q Query) matches(r *Row) bool {
	if q.Presence != "" && r.Presence != q.Presence || q.Health != "" && r.Health != q.Health ||
		q.Rollout != "" && r.Rollout != q.Rollout {
		return false
	}
	if q.Text == "" {
		return true
	}
	if strings.ContainsAny(q.Text, "*?[") {
		ok, _ := path.Match(q.Text, r.ID)
		return ok
	}
	needle := strings.ToLower(q.Text)
	if containsFold(r.ID, needle) || containsFold(r.Site, needle) || containsFold(r.Software, needle) {
		return true
	}
	return slices.ContainsFunc(r.Problems, func(p string) bool { return containsFold(p, needle) })
}

func containsFold(s, lowerNeedle string) bool {
	return strings.Contains(strings.ToLower(s), lowerNeedle)
}

// Table returns the page of terminals q selects, in q's order (then by id).
func (m *Model) Table(q Query) Page {
	now := time.Now()
	p := Page{Page: q.Page, Size: q.Size, Sort: q.Sort, Desc: q.Desc, Counts: map[string]int{}}
	rows := make([]Row, 0, 256)
	m.mu.RLock()
	p.Total, p.Synced = len(m.byID), m.synced
	for _, e := range m.byID {
		r := m.row(e, now)
		p.Counts[r.Presence]++
		if q.matches(&r) {
			rows = append(rows, r)
		}
	}
	m.mu.RUnlock()
	by := sortKeys[q.Sort]
	if by == nil {
		by = sortKeys["id"]
	}
	order := make([]*Row, len(rows))
	for i := range rows {
		order[i] = &rows[i]
	}
	slices.SortFunc(order, func(a, b *Row) int {
		c := by(a, b)
		if q.Desc {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(a.ID, b.ID))
	})
	p.Matched = len(rows)
	lo := min(q.Page*q.Size, len(rows))
	p.Rows = make([]Row, 0, min(lo+q.Size, len(rows))-lo)
	for _, r := range order[lo:min(lo+q.Size, len(rows))] {
		p.Rows = append(p.Rows, *r)
	}
	return p
}

// IDs returns every known terminal id.
func (m *Model) IDs() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ids := make([]string, 0, len(m.byID))
	for id := range m.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Detail is one terminal in full.
type Detail struct {
	Row
	State      *mgmt.State     `json:"state,omitempty"`
	Telemetry  *mgmt.Telemetry `json:"telemetry,omitempty"`
	Reported   *mgmt.Reported  `json:"reported,omitempty"`
	DesiredDoc *DesiredRef     `json:"desiredDoc,omitempty"`
	History    []Sample        `json:"history"`
	Events     []Event         `json:"events"`   // newest first
	Commands   []Command       `json:"commands"` // newest first
}

// Terminal returns one terminal, or false when the model does not know it.
func (m *Model) Terminal(id string) (Detail, bool) {
	now := time.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	e := m.byID[id]
	if e == nil {
		return Detail{}, false
	}
	d := Detail{Row: m.row(e, now), State: e.t.State, Telemetry: e.t.Telemetry, Reported: e.t.Reported, DesiredDoc: e.desired,
		History: make([]Sample, 0, len(e.history)), Events: make([]Event, 0, len(e.events)), Commands: make([]Command, 0, len(e.commands))}
	d.History = append(append(d.History, e.history[e.hpos:]...), e.history[:e.hpos]...)
	for i := len(e.events) - 1; i >= 0; i-- {
		d.Events = append(d.Events, e.events[i])
	}
	for i := len(e.commands) - 1; i >= 0; i-- {
		d.Commands = append(d.Commands, e.commands[i])
	}
	return d, true
}
