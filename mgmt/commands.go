package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/atomicfile"
	"github.com/sscagent/sscagent/internal/logging"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/internal/version"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
)

// Command is a management command the agent can run. Run gets the request's "args"
// (nil when absent) and a context that ends at the command's time limit; it returns a
// value that is encoded as the result's "result" (masked before it leaves), or an
// error. A command must honour ctx: the session waits for it to return.
type Command interface {
	Run(ctx context.Context, args json.RawMessage) (any, error)
}

// CommandFunc adapts a function to a Command.
type CommandFunc func(ctx context.Context, args json.RawMessage) (any, error)

// Run implements Command.
func (f CommandFunc) Run(ctx context.Context, args json.RawMessage) (any, error) { return f(ctx, args) }

var _ Command = CommandFunc(nil)

// Names of the commands. The session provides ping, log.level (with Options.Level),
// restart (with Options.Restart), config.status and diagnostics; the agent registers
// the others through Options.Commands.
const (
	CmdPing         = "ping"
	CmdLogLevel     = "log.level"
	CmdRestart      = "restart"
	CmdConfigStatus = "config.status"
	CmdDiagnostics  = "diagnostics"
	CmdReload       = "reload"
	CmdQueueStats   = "queue.stats"
	CmdQueueFlush   = "queue.flush"
	CmdReaderRescan = "readers.rescan"
)

// Commands concurrency: at most this many run at once, and this many more wait.
const (
	commandWorkers = 4
	commandBacklog = 32
)

// afterResult is a command value with an action to run once its result has been
// delivered to the broker (or could not be, after afterResultWait).
type afterResult struct {
	value  any
	action func()
}

const afterResultWait = 5 * time.Second

// builtins returns the session's own commands.
func (s *Session) builtins() map[string]Command {
	m := map[string]Command{
		CmdPing:         CommandFunc(s.cmdPing),
		CmdConfigStatus: CommandFunc(s.cmdConfigStatus),
		CmdDiagnostics:  CommandFunc(s.cmdDiagnostics),
	}
	if s.o.Level != nil {
		m[CmdLogLevel] = CommandFunc(s.cmdLogLevel)
	}
	if s.o.Restart != nil {
		m[CmdRestart] = CommandFunc(s.cmdRestart)
	}
	return m
}

func (s *Session) cmdPing(ctx context.Context, _ json.RawMessage) (any, error) {
	return map[string]any{
		"pong":          true,
		"time":          time.Now().UTC(),
		"epoch":         s.currentEpoch(),
		"boot":          s.boot,
		"uptimeSeconds": int64(time.Since(s.started).Seconds()),
		"version":       version.Get().Version,
	}, nil
}

func (s *Session) cmdLogLevel(ctx context.Context, args json.RawMessage) (any, error) {
	var a struct {
		Level string `json:"level"`
	}
	if len(args) > 0 {
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, fmt.Errorf("args: want {\"level\": \"debug|info|warn|error\"}: %w", err)
		}
	}
	prev := s.o.Level.Level()
	if a.Level == "" {
		return map[string]string{"level": levelName(prev)}, nil
	}
	l, err := logging.ParseLevel(a.Level)
	if err != nil {
		return nil, err
	}
	s.o.Level.Set(l)
	s.log.Info("log level changed by terminal management", "from", levelName(prev), "to", levelName(l))
	return map[string]string{"level": levelName(l), "previous": levelName(prev)}, nil
}

func levelName(l slog.Level) string { return strings.ToLower(l.String()) }

func (s *Session) cmdRestart(ctx context.Context, args json.RawMessage) (any, error) {
	var a struct {
		Reason string `json:"reason"`
	}
	if len(args) > 0 {
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, fmt.Errorf("args: want {\"reason\": \"...\"}: %w", err)
		}
	}
	reason := "terminal management"
	if a.Reason != "" {
		reason += ": " + a.Reason
	}
	return afterResult{
		value:  map[string]any{"restarting": true, "reason": reason},
		action: func() { s.o.Restart(reason) },
	}, nil
}

func (s *Session) cmdConfigStatus(ctx context.Context, _ json.RawMessage) (any, error) {
	if s.o.Rollout == nil {
		return nil, errors.New("remote configuration is not enabled on this terminal")
	}
	return s.o.Rollout.Status(), nil
}

// cmdDiagnostics assembles the diagnostics bundle: everything a maintainer needs to
// understand the terminal remotely. It is masked like every result.
func (s *Session) cmdDiagnostics(ctx context.Context, _ json.RawMessage) (any, error) {
	b := map[string]any{
		"generatedAt": time.Now().UTC(),
		"terminal":    RegistrationOf(s.o.Identity),
		"software":    software(s.o.Install),
		"boot":        s.boot,
		"startedAt":   s.started.UTC(),
		"epoch":       s.currentEpoch(),
		"link":        s.link(),
		"telemetry":   s.telemetry(ctx),
		"runtime": map[string]any{
			"goos": runtime.GOOS, "goarch": runtime.GOARCH, "cpus": runtime.NumCPU(),
			"gomaxprocs": runtime.GOMAXPROCS(0), "goroutines": runtime.NumGoroutine(),
		},
		"commands": s.commandNames(),
	}
	if s.o.Rollout != nil {
		b["config"] = s.o.Rollout.Status()
	}
	if s.o.Events != nil {
		ev := s.o.Events.Since(0)
		if len(ev) > 50 {
			ev = ev[len(ev)-50:]
		}
		b["recentEvents"] = ev
	}
	if s.o.Diagnostics != nil {
		for k, v := range s.o.Diagnostics(ctx) {
			if _, taken := b[k]; !taken {
				b[k] = v
			}
		}
	}
	return b, nil
}

func (s *Session) commandNames() []string {
	names := make([]string, 0, len(s.cmds))
	for n := range s.cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// job is one accepted command waiting for a worker.
type job struct {
	id      string
	req     Request
	cmd     Command
	timeout time.Duration
	started time.Time
}

// seenCommands is how many command ids a terminal remembers.
const seenCommands = 1024

// seenIDs remembers the ids of the last commands taken, on disk, so a command that is
// delivered again (QoS 1 redelivery, a manager's retry, a restart before the
// acknowledgement, a replay) is answered once only. Memory is bounded: when an id is
// forgotten before its request expired, the floor rises to its issuedAt and a signed
// request issued at or before the floor is refused, so forgetting never opens a replay.
type seenIDs struct {
	path string
	max  int

	mu sync.Mutex // guards st
	st seenState
}

// seenState is the file {stateDir}/mgmt/commands.json.
type seenState struct {
	IDs []seenID `json:"ids"`
	// Floor is the latest issuedAt of an id forgotten before its request expired.
	Floor time.Time `json:"floor,omitzero"`
}

type seenID struct {
	ID string `json:"id"`
	// Issued and Until (expiresAt plus the clock skew allowed) of a signed request;
	// zero for an unsigned one.
	Issued time.Time `json:"issued,omitzero"`
	Until  time.Time `json:"until,omitzero"`
}

func openSeen(dir string, max int) *seenIDs {
	s := &seenIDs{path: filepath.Join(dir, "commands.json"), max: max}
	if b, err := os.ReadFile(s.path); err == nil {
		// A damaged file only forgets history; the list of ids of earlier versions reads.
		if json.Unmarshal(b, &s.st) != nil {
			var ids []string
			_ = json.Unmarshal(b, &ids)
			s.st = seenState{}
			for _, id := range ids {
				s.st.IDs = append(s.st.IDs, seenID{ID: id})
			}
		}
	}
	return s
}

// has reports whether id was taken.
func (s *seenIDs) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.st.IDs, func(e seenID) bool { return e.ID == id })
}

// floor is the issuedAt at or before which signed requests are refused.
func (s *seenIDs) floor() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Floor
}

// add records e (an id has does not know) and persists the list.
func (s *seenIDs) add(e seenID, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.IDs = append(s.st.IDs, e)
	for len(s.st.IDs) > s.max {
		old := s.st.IDs[0]
		s.st.IDs = s.st.IDs[1:]
		if old.Until.After(now) && old.Issued.After(s.st.Floor) {
			s.st.Floor = old.Issued
		}
	}
	b, _ := json.Marshal(s.st)
	return atomicfile.Write(s.path, b, 0o600)
}

// takeCommand verifies a command request (§10.1), checks it and queues it for a worker.
func (s *Session) takeCommand(ctx context.Context, id string, m mqttc.Message) {
	if m.Retained {
		// A retained command would run again on every reconnect of every terminal.
		s.retainedCmds.Add(1)
		s.log.Warn("mgmt: retained command ignored", "id", id)
		return
	}
	started := time.Now().UTC()
	if s.seen.has(id) {
		// Answered once already: a redelivery or a replay. No second answer (§8.3).
		s.dupCmds.Add(1)
		s.log.Info("mgmt: duplicate command ignored", "id", id)
		s.refused("command", refuse(RefusedReplayed, "command id %s was taken before", id), map[string]any{"id": id})
		return
	}
	msg, signed, ref := s.guard.open(m.Payload, TypeCommand, MaxCommandSize)
	var req Request
	var bad error
	if ref == nil {
		req, bad = DecodeRequest(msg)
		switch {
		case bad != nil && signed:
			ref = refuse(RefusedMalformed, "payload: %v", bad)
		case signed:
			if ref = s.guard.request(id, req, started); ref == nil && !req.IssuedAt.After(s.seen.floor()) {
				ref = refuse(RefusedReplayed, "issued at %s, not after %s: older than the command ids this terminal remembers", stamp(req.IssuedAt), stamp(s.seen.floor()))
			}
		}
	}
	if ref != nil {
		// Not recorded as taken: a forged message cannot use up a genuine command's id.
		s.refusedCmds.Add(1)
		status := ResultRefused
		if ref.Reason == RefusedExpired {
			status = ResultExpired
		}
		s.queueResult(Result{ID: id, Name: req.Name, Status: status, StartedAt: started, Error: ref.Error(),
			Code: fmt.Sprintf("%06d", int(CodeRefused)), Refusal: ref.Reason}, nil)
		s.refused("command", ref, map[string]any{"id": id})
		return
	}
	e := seenID{ID: id}
	if signed {
		e.Issued, e.Until = req.IssuedAt, req.ExpiresAt.Add(s.guard.skew)
	}
	if err := s.seen.add(e, started); err != nil {
		s.log.Warn("mgmt: command id not persisted", "id", id, "err", err)
	}
	s.takenCmds.Add(1)
	switch {
	case bad != nil:
		s.sendResult(id, req.Name, ResultInvalid, nil, bad, started, nil)
		return
	case !signed && !req.ExpiresAt.IsZero() && started.After(req.ExpiresAt):
		s.sendResult(id, req.Name, ResultExpired, nil, fmt.Errorf("expired at %s", req.ExpiresAt.UTC().Format(time.RFC3339)), started, nil)
		return
	}
	c, ok := s.cmds[req.Name]
	if !ok {
		s.sendResult(id, req.Name, ResultUnknown, nil, fmt.Errorf("no command %q on this terminal (known: %s)", req.Name, strings.Join(s.commandNames(), ", ")), started, nil)
		return
	}
	timeout := s.cfg.CommandTimeout.D()
	if req.Timeout > 0 {
		timeout = time.Duration(req.Timeout * float64(time.Second))
	}
	if !s.submit(ctx, job{id: id, req: req, cmd: c, timeout: timeout, started: started}) {
		s.sendResult(id, req.Name, ResultBusy, nil, errors.New("too many commands waiting; try again later"), started, nil)
	}
}

// submit queues a job and starts a worker when fewer than commandWorkers run; workers
// exit when the queue is empty, so an idle terminal runs none.
func (s *Session) submit(ctx context.Context, j job) bool {
	s.jobsMu.Lock()
	defer s.jobsMu.Unlock()
	if len(s.jobs) >= commandBacklog {
		return false
	}
	s.jobs = append(s.jobs, j)
	if s.workers < commandWorkers {
		s.workers++
		s.jobsWG.Go(func() { s.commandWorker(ctx) })
	}
	return true
}

// commandWorker runs queued commands until none is left.
func (s *Session) commandWorker(ctx context.Context) {
	for {
		s.jobsMu.Lock()
		if len(s.jobs) == 0 || ctx.Err() != nil {
			s.workers--
			s.jobsMu.Unlock()
			return
		}
		j := s.jobs[0]
		s.jobs = s.jobs[1:]
		s.jobsMu.Unlock()
		s.runJob(ctx, j)
	}
}

type outcome struct {
	v   any
	err error
}

func (s *Session) runJob(ctx context.Context, j job) {
	jctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	done := make(chan outcome, 1)
	go func() { // owned by runJob, which waits for it below
		defer func() {
			if r := recover(); r != nil {
				done <- outcome{err: fmt.Errorf("command panicked: %v", r)}
			}
		}()
		v, err := j.cmd.Run(jctx, j.req.Args)
		done <- outcome{v, err}
	}()
	select {
	case o := <-done:
		status := ResultOK
		if o.err != nil {
			status = ResultError
		}
		var after func()
		if a, ok := o.v.(afterResult); ok {
			o.v, after = a.value, a.action
		}
		s.sendResult(j.id, j.req.Name, status, o.v, o.err, j.started, after)
	case <-jctx.Done():
		err := fmt.Errorf("did not finish within %s", j.timeout)
		if ctx.Err() != nil {
			err = errors.New("the agent is stopping")
		}
		s.sendResult(j.id, j.req.Name, ResultTimeout, nil, err, j.started, nil)
		<-done
	}
}

// sendResult queues a command result; after, when set, runs once the result is
// delivered, or after afterResultWait if it cannot be.
func (s *Session) sendResult(id, name, status string, v any, err error, started time.Time, after func()) {
	r := Result{ID: id, Name: name, Status: status, StartedAt: started}
	if v != nil {
		b, merr := maskJSON(v)
		if merr != nil {
			r.Status, err = ResultError, fmt.Errorf("result not encodable: %w", merr)
		} else {
			r.Result = b
		}
	}
	if err != nil {
		r.Error = err.Error()
		r.Code = fmt.Sprintf("%06d", int(CodeCommandFailed))
		if status == ResultTimeout {
			r.Code = fmt.Sprintf("%06d", int(CodeCommandTimeout))
		}
		// A command's own 8.4 code, when its error carries one.
		var coded interface{ PromptCode() prompt.Code }
		if errors.As(err, &coded) {
			r.Code = fmt.Sprintf("%06d", int(coded.PromptCode()))
		}
	}
	s.queueResult(r, after)
}

// queueResult stamps, masks, logs and queues r.
func (s *Session) queueResult(r Result, after func()) {
	r.V, r.Epoch, r.FinishedAt = ProtocolVersion, s.currentEpoch(), time.Now().UTC()
	r.Error = mask.Text(r.Error)
	b, merr := json.Marshal(r)
	if merr != nil {
		return
	}
	it := item{msg: mqttc.Message{Topic: s.topics.Result(r.ID), Payload: b, QoS: 1}}
	if after != nil {
		var once sync.Once
		run := func() { once.Do(after) }
		t := time.AfterFunc(afterResultWait, run)
		it.done = func(bool) { t.Stop(); run() }
	}
	lvl := slog.LevelInfo
	if r.Status != ResultOK {
		lvl = slog.LevelWarn
	}
	s.log.Log(context.Background(), lvl, "mgmt: command", "id", r.ID, "name", r.Name, "status", r.Status, "err", r.Error)
	s.enqueue(laneResults, it)
}
