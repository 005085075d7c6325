package mgmt

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
)

// Source reports the state of the terminal's devices and services for telemetry, the
// health summary and the diagnostics bundle. The agent implements it from its parts'
// counters. It is called every telemetry interval from the session's goroutine and must
// return quickly: it reads state, it does not probe devices. Free-text fields (errors)
// are masked by the session before they leave the terminal.
type Source interface {
	Devices(ctx context.Context) Devices
}

// SourceFunc adapts a function to a Source.
type SourceFunc func(ctx context.Context) Devices

// Devices implements Source.
func (f SourceFunc) Devices(ctx context.Context) Devices { return f(ctx) }

// HealthOf summarises devices: ok, or degraded with one line per problem.
func HealthOf(d Devices) Health {
	var ps []string
	for _, r := range d.Readers {
		if !r.Present {
			ps = append(ps, fmt.Sprintf("reader %s (%s) absent", r.Name, r.Role))
		}
	}
	for _, p := range d.PSAMs {
		if p.Status != PSAMOK {
			ps = append(ps, fmt.Sprintf("PSAM in %s: %s", p.Reader, p.Status))
		}
	}
	for _, s := range d.Scanners {
		if !s.Connected {
			ps = append(ps, fmt.Sprintf("scanner %s not connected", s.Name))
		}
	}
	if q := d.Queue; q != nil && q.Quarantined > 0 {
		ps = append(ps, fmt.Sprintf("%d records in quarantine", q.Quarantined))
	}
	if p := d.Payments; p != nil && p.NeedsManual > 0 {
		ps = append(ps, fmt.Sprintf("%d payments need a person (NEEDS_MANUAL)", p.NeedsManual))
	}
	if p := d.Platform; p != nil && !p.Up && !p.Unknown {
		ps = append(ps, "platform unreachable")
	}
	for _, p := range d.Parts {
		if p.State == "failed" || p.State == "restarting" {
			ps = append(ps, fmt.Sprintf("part %s %s", p.Name, p.State))
		}
	}
	if len(ps) == 0 {
		return Health{Status: HealthOK}
	}
	return Health{Status: HealthDegraded, Problems: ps}
}

// maskDevices masks the free-text fields of d in place.
func maskDevices(d *Devices) {
	for i := range d.Readers {
		d.Readers[i].LastError = mask.Text(d.Readers[i].LastError)
	}
	for i := range d.PSAMs {
		d.PSAMs[i].LastError = mask.Text(d.PSAMs[i].LastError)
	}
	for i := range d.Scanners {
		d.Scanners[i].LastError = mask.Text(d.Scanners[i].LastError)
	}
	if d.Platform != nil {
		p := *d.Platform
		p.LastError = mask.Text(p.LastError)
		d.Platform = &p
	}
	for i := range d.Parts {
		d.Parts[i].LastError = mask.Text(d.Parts[i].LastError)
	}
}

// procSampler computes the agent's CPU use between samples.
type procSampler struct {
	lastCPU  float64
	lastWall time.Time
}

func (p *procSampler) sample(now time.Time) Process {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cpu, rss := processUsage()
	if rss == 0 {
		rss = ms.Sys
	}
	out := Process{CPUSeconds: cpu, RSSBytes: rss, HeapBytes: ms.HeapAlloc, Goroutines: runtime.NumGoroutine()}
	if !p.lastWall.IsZero() {
		if wall := now.Sub(p.lastWall).Seconds(); wall > 0 {
			out.CPUPercent = 100 * (cpu - p.lastCPU) / wall
		}
	}
	p.lastCPU, p.lastWall = cpu, now
	return out
}

// telemetryLoop publishes telemetry every interval and right after each birth.
func (s *Session) telemetryLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.TelemetryInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.tickNow:
		}
		b, err := json.Marshal(s.telemetry(ctx))
		if err != nil {
			continue
		}
		s.enqueue(laneTelemetry, item{msg: mqttc.Message{Topic: s.topics.Telemetry(), Payload: b, QoS: 0, Retained: true}})
	}
}

// telemetry samples the terminal now.
func (s *Session) telemetry(ctx context.Context) Telemetry {
	now := time.Now()
	var d Devices
	if s.o.Source != nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		d = s.o.Source.Devices(sctx)
		cancel()
	}
	maskDevices(&d)
	s.mu.Lock()
	proc := s.proc.sample(now)
	s.mu.Unlock()
	return Telemetry{
		V: ProtocolVersion, Epoch: s.currentEpoch(), Seq: s.telemetrySeq.Add(1), Time: now.UTC(),
		UptimeSeconds: int64(now.Sub(s.started).Seconds()),
		Health:        HealthOf(d), Devices: d, Process: proc, Link: s.link(), Config: s.configState(),
	}
}

// Link returns the session's counters (also sent in telemetry).
func (s *Session) Link() Link { return s.link() }

// link returns the session's counters.
func (s *Session) link() Link {
	d := s.out.drops()
	d.Commands = s.inboxDropped.Load()
	s.mu.Lock()
	last := s.lastErr
	s.mu.Unlock()
	return Link{Connects: s.connects.Load(), Failures: s.failures.Load(), SessionsLost: s.sessionsLost.Load(),
		Buffered: s.out.len(), Dropped: d, LastError: last,
		Commands: CommandCounts{Taken: s.takenCmds.Load(), Duplicates: s.dupCmds.Load(), Retained: s.retainedCmds.Load(),
			Refused: s.refusedCmds.Load()}}
}
