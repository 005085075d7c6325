package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/version"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
)

// connectLoop keeps a connection up until ctx ends.
func (s *Session) connectLoop(ctx context.Context, ep *epochs) {
	b := backoff.New(backoff.Policy{Base: s.cfg.Reconnect.Min.D(), Max: s.cfg.Reconnect.Max.D()})
	var delay time.Duration
	for {
		if !backoff.Sleep(ctx, delay) {
			return
		}
		conn, epoch, err := s.connect(ctx, ep)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.noteFailure(err, b.Failures())
			delay = b.Next()
			continue
		}
		up := time.Now()
		s.serve(ctx, conn)
		if ctx.Err() != nil {
			s.goodbye(conn, epoch)
			return
		}
		s.noteLost(conn.Err(), epoch)
		// The first attempt after losing a connection waits a random time, so a fleet
		// that lost the same broker does not return at the same instant; a link that
		// did not stay up long also keeps its backoff.
		delay = time.Duration(rand.Int64N(int64(s.cfg.Reconnect.FirstDelayMax.D()) + 1))
		if time.Since(up) >= s.cfg.Reconnect.StableAfter.D() {
			b.Reset()
		} else {
			delay += b.Next()
		}
	}
}

// connect opens one connection: a new epoch, the will, subscriptions, the birth.
func (s *Session) connect(ctx context.Context, ep *epochs) (*mqttc.Conn, uint64, error) {
	epoch, err := ep.next()
	if err != nil {
		return nil, 0, err
	}
	now := time.Now().UTC()
	will, err := json.Marshal(State{V: ProtocolVersion, Status: StatusOffline, Epoch: epoch, Boot: s.boot,
		Reason: ReasonConnectionLost, Time: now})
	if err != nil {
		return nil, 0, err
	}
	o := mqttc.Options{
		Brokers:        s.cfg.Brokers,
		ClientID:       s.cfg.ClientID,
		Username:       s.cfg.Username,
		KeepAlive:      s.cfg.KeepAlive.D(),
		ConnectTimeout: s.cfg.ConnectTimeout.D(),
		Will:           &mqttc.Message{Topic: s.topics.State(), Payload: will, QoS: 1, Retained: true},
		OnMessage:      s.receive,
	}
	if s.cfg.PasswordFile != "" {
		pw, err := s.cfg.PasswordFile.Read()
		if err != nil {
			return nil, 0, fmt.Errorf("mqtt password: %w", err)
		}
		o.Password = strings.TrimRight(string(pw), "\r\n")
	}
	if s.usesTLS() {
		t := s.cfg.TLS
		if o.TLS, err = (mqttc.TLSFiles{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName,
			PinSPKI: t.PinSPKI}).Config(); err != nil {
			return nil, 0, err
		}
	}
	dctx, cancel := context.WithTimeout(ctx, time.Duration(len(s.cfg.Brokers)+1)*s.cfg.ConnectTimeout.D())
	defer cancel()
	conn, err := mqttc.Dial(dctx, o)
	if err != nil {
		return nil, 0, err
	}
	filters := map[string]byte{s.topics.CommandFilter(): 1, s.topics.State(): 1}
	if s.o.Rollout != nil {
		filters[s.topics.Desired()] = 1
	}
	s.mu.Lock()
	s.epoch = epoch
	had := s.hadSession
	s.hadSession = true
	s.mu.Unlock()
	if had && !conn.SessionPresent() {
		s.sessionsLost.Add(1)
	}
	// Resubscribe on every connection, session present or not: a broker may keep a
	// session but lose subscriptions (expiry, failover), and SUBSCRIBE is idempotent.
	// The retained desired configuration arrives with the SUBACK.
	if err := conn.Subscribe(dctx, filters); err != nil {
		conn.Abort()
		return nil, 0, err
	}
	if err := conn.Publish(dctx, mqttc.Message{Topic: s.topics.State(), Payload: s.birth(epoch), QoS: 1, Retained: true}); err != nil {
		conn.Abort()
		return nil, 0, err
	}
	s.connects.Add(1)
	s.mu.Lock()
	s.online = true
	s.lastErr = ""
	s.mu.Unlock()
	s.log.Info("mgmt: online", "broker", strings.Join(s.cfg.Brokers, ","), "epoch", epoch, "sessionPresent", conn.SessionPresent())
	s.emit("mgmt.online", true, CodeOnline, map[string]any{"epoch": epoch})
	select {
	case s.tickNow <- struct{}{}: // a telemetry sample right after the birth
	default:
	}
	return conn, epoch, nil
}

func (s *Session) usesTLS() bool {
	for _, b := range s.cfg.Brokers {
		if i := strings.Index(b, "://"); i > 0 && mqttc.IsTLS(b[:i]) {
			return true
		}
	}
	return false
}

// birth is the retained online state of this connection.
func (s *Session) birth(epoch uint64) []byte {
	started := s.started.UTC()
	st := State{V: ProtocolVersion, Status: StatusOnline, Epoch: epoch, Boot: s.boot, Time: time.Now().UTC(),
		StartedAt: &started, Terminal: RegistrationOf(s.o.Identity), Scenes: s.o.Scenes, Platform: s.o.Platform,
		Software: software(s.o.Install), Config: s.configState()}
	b, _ := json.Marshal(st)
	return b
}

func software(install string) *Software {
	v := version.Get()
	return &Software{Version: v.Version, Commit: v.Commit, Go: v.Go, Platform: runtime.GOOS + "/" + runtime.GOARCH, Install: install}
}

func (s *Session) configState() *ConfigState {
	if s.o.Rollout == nil {
		return nil
	}
	st := s.o.Rollout.Status()
	return &ConfigState{Version: st.Committed.Version, SHA256: st.Committed.SHA256, Pending: st.Pending, Phase: st.Phase}
}

// sendWindow is how many messages may await their PUBACK at once.
const sendWindow = 16

// serve sends the outbox over conn until the connection is lost or ctx ends. Up to
// sendWindow messages are in flight; they are confirmed in order, and when one fails it
// and every later one go back to the front of their lanes, so nothing is lost and the
// order within a lane is kept (a resend may duplicate: delivery is at least once).
func (s *Session) serve(ctx context.Context, conn *mqttc.Conn) {
	timeout := max(s.cfg.ConnectTimeout.D(), 10*time.Second)
	type sent struct {
		it   item
		l    lane
		wait *mqttc.Pending
	}
	batch := make([]sent, 0, sendWindow)
	for {
		batch = batch[:0]
		for len(batch) < sendWindow {
			it, l, ok := s.out.take()
			if !ok {
				break
			}
			batch = append(batch, sent{it: it, l: l, wait: conn.PublishAsync(it.msg)})
		}
		if len(batch) == 0 {
			select {
			case <-s.out.notify:
				continue
			case <-conn.Lost():
				return
			case <-ctx.Done():
				return
			}
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		for i, b := range batch {
			if err := b.wait.Wait(pctx); err != nil {
				cancel()
				for j := len(batch) - 1; j >= i; j-- {
					s.out.giveBack(batch[j].l, batch[j].it)
				}
				if ctx.Err() == nil {
					// No acknowledgement in time: the link is dead even if TCP has not
					// noticed. Drop it so the broker publishes the will and we reconnect.
					s.log.Warn("mgmt: publish failed; reconnecting", "topic", b.it.msg.Topic, "err", err)
					conn.Abort()
				}
				return
			}
			b.it.finish(true)
		}
		cancel()
	}
}

// goodbye ends the session cleanly at shutdown: it flushes pending results for a
// moment, publishes the offline state with this session's epoch (retained, like the
// will it replaces) and disconnects. The explicit offline message makes a clean stop
// look like a death to consumers without relying on the will, which a DISCONNECT
// cancels.
func (s *Session) goodbye(conn *mqttc.Conn, epoch uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for {
		it, l, ok := s.out.take()
		if !ok || l != laneResults {
			if ok {
				s.out.giveBack(l, it)
			}
			break
		}
		if err := conn.Publish(ctx, it.msg); err != nil {
			s.out.giveBack(l, it)
			break
		}
		it.finish(true)
	}
	off, _ := json.Marshal(State{V: ProtocolVersion, Status: StatusOffline, Epoch: epoch, Boot: s.boot,
		Reason: ReasonShutdown, Time: time.Now().UTC()})
	if err := conn.Publish(ctx, mqttc.Message{Topic: s.topics.State(), Payload: off, QoS: 1, Retained: true}); err != nil {
		s.log.Warn("mgmt: offline state not published; the broker will publish the will", "err", err)
	}
	// Up to 2s for the DISCONNECT to reach the broker (paho returns as soon as it is
	// written): one that does not arrive makes the broker publish the will, and the clean
	// stop would read as a lost connection. A loaded machine can need more than a moment.
	conn.Close(2 * time.Second)
	s.mu.Lock()
	s.online = false
	s.mu.Unlock()
	s.log.Info("mgmt: disconnected", "epoch", epoch)
}

func (s *Session) noteFailure(err error, failures int) {
	s.failures.Add(1)
	s.mu.Lock()
	s.lastErr = mask.Text(err.Error())
	s.mu.Unlock()
	code := CodeOffline
	var re *mqttc.RefusedError
	if errors.As(err, &re) && re.Auth() {
		code = CodeAuthRefused
	}
	// Log the first failure of a run and then every tenth, so an outage of hours does
	// not flood the log.
	if failures%10 == 0 {
		s.log.Warn("mgmt: cannot connect", "err", err, "failures", failures+1)
		s.emit("mgmt.offline", false, code, map[string]any{"error": err.Error()})
	}
}

func (s *Session) noteLost(err error, epoch uint64) {
	s.mu.Lock()
	s.online = false
	if err != nil {
		s.lastErr = mask.Text(err.Error())
	}
	s.mu.Unlock()
	s.log.Warn("mgmt: connection lost", "err", err, "epoch", epoch)
	s.emit("mgmt.offline", false, CodeOffline, map[string]any{"epoch": epoch})
}

// takeState watches this terminal's own state topic. A live offline message with an
// older epoch is a stale will that arrived after our birth (a late death of an earlier
// connection): the birth is sent again so the retained state is right. A birth from
// another process with this terminal id is reported.
func (s *Session) takeState(m mqttc.Message) {
	if m.Retained || len(m.Payload) == 0 {
		return // from before this connection's birth
	}
	st, err := DecodeState(m.Payload)
	if err != nil {
		return
	}
	epoch := s.currentEpoch()
	switch {
	case st.Status == StatusOffline && st.Epoch < epoch:
		s.log.Info("mgmt: stale offline state after our birth; announcing again", "staleEpoch", st.Epoch, "epoch", epoch)
		s.out.put(laneResults, item{msg: mqttc.Message{Topic: s.topics.State(), Payload: s.birth(epoch), QoS: 1, Retained: true}})
	case st.Status == StatusOnline && st.Boot != s.boot:
		s.log.Error("mgmt: another agent announces this terminal id", "epoch", st.Epoch, "boot", st.Boot)
		s.emit("mgmt.duplicate", false, CodeDuplicateTerminal, map[string]any{"epoch": st.Epoch, "boot": st.Boot})
	}
}
