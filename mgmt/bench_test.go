package mgmt

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/internal/signing"
	"github.com/sscagent/sscagent/internal/terminal"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
)

// BenchmarkEventEncode is the cost of one event on its way to MQTT: the envelope, JSON
// and the masking safety net over every string.
func BenchmarkEventEncode(b *testing.B) {
	p := prompt.Lookup(prompt.CodeOK).All(prompt.ZH)
	e := event.Event{Seq: 12345, Time: time.Now(), Kind: "card.authenticated", Scene: "lobby", Source: "Virtual PCD 00 00", OK: true,
		Prompts: &p, Data: map[string]any{"idNumber": mask.Of(mask.KindIDNumber, "350102199003077898"),
			"name": mask.Of(mask.KindName, "张三"), "cardNo": "D10000017", "latencyMs": 182}}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out, err := maskJSON(EventMessage{V: ProtocolVersion, Epoch: 7, Boot: "0123456789abcdef", Event: e})
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n), "bytes/event")
}

// BenchmarkTelemetrySample is one telemetry message: sampling the process, the health
// summary and JSON, for a kiosk with two readers, a PSAM, a scanner, queue and platform.
func BenchmarkTelemetrySample(b *testing.B) {
	s, err := New(Options{StateDir: b.TempDir(), Identity: terminal.Identity{ID: "KIOSK-1"},
		Config: Config{Brokers: []string{"tcp://127.0.0.1:1"}},
		Source: SourceFunc(func(context.Context) Devices {
			now := time.Now()
			return Devices{
				Readers:  []Reader{{Name: "ACS ACR1281 00 00", Role: "holder", Present: true}, {Name: "ACS ACR1281 00 01", Role: "psam", Present: true, Card: true}},
				PSAMs:    []PSAM{{Reader: "ACS ACR1281 00 01", Status: PSAMOK, TerminalNo: "350100000001"}},
				Scanners: []Scanner{{Name: "front", Connected: true, Scans: 1234}},
				Queue:    &Queue{Depth: 3, OldestAgeSeconds: 12},
				Platform: &Platform{Up: true, LastOK: &now, RTTMillis: 35},
				Parts:    []Part{{Name: "uploader", State: "running"}, {Name: "localapi", State: "running"}},
			}
		})})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out, err := json.Marshal(s.telemetry(ctx))
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n), "bytes/msg")
}

// BenchmarkOutbox is the offline buffer: one put and one take.
func BenchmarkOutbox(b *testing.B) {
	o := newOutbox(Buffer{Events: 1000, Telemetry: 10, Results: 256})
	it := item{msg: mqttc.Message{Topic: "ssc/v1/terminals/T/events", Payload: make([]byte, 300), QoS: 1}}
	b.ReportAllocs()
	for b.Loop() {
		o.put(laneEvents, it)
		o.take()
	}
}

// BenchmarkSignRequest is the manager's cost per terminal of a signed command (the
// fleet client signs one message per terminal), and BenchmarkVerifyRequest the
// terminal's cost to take one.
func BenchmarkSignRequest(b *testing.B) {
	for _, alg := range []signing.Algorithm{signing.SM2, signing.Ed25519} {
		b.Run(string(alg), func(b *testing.B) {
			k := mustKey(b, alg)
			r := okRequest()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := SignRequest(k, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyRequest(b *testing.B) {
	for _, alg := range []signing.Algorithm{signing.SM2, signing.Ed25519} {
		b.Run(string(alg), func(b *testing.B) {
			k := mustKey(b, alg)
			msg := signedRequest(b, k, okRequest())
			g := guard{keys: signing.Keyring{k.Public()}, terminal: "T-1", skew: time.Minute}
			b.ReportAllocs()
			for b.Loop() {
				p, _, ref := g.open(msg, TypeCommand, MaxCommandSize)
				if ref != nil {
					b.Fatal(ref)
				}
				r, err := DecodeRequest(p)
				if err != nil || g.request("c-1", r, t0) != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
