package mgmt

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/terminal"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

func TestTopics(t *testing.T) {
	tp := Topics{Prefix: "ssc/v1/terminals", Terminal: "T-1"}
	cases := map[string]Parsed{
		tp.State():          {Terminal: "T-1", Kind: KindState},
		tp.Telemetry():      {Terminal: "T-1", Kind: KindTelemetry},
		tp.Events():         {Terminal: "T-1", Kind: KindEvents},
		tp.Desired():        {Terminal: "T-1", Kind: KindDesired},
		tp.Reported():       {Terminal: "T-1", Kind: KindReported},
		tp.Command("c.1_a"): {Terminal: "T-1", Kind: KindCommand, ID: "c.1_a"},
		tp.Result("c-2"):    {Terminal: "T-1", Kind: KindResult, ID: "c-2"},
	}
	for topic, want := range cases {
		got, ok := ParseTopic(tp.Prefix, topic)
		if !ok || got != want {
			t.Errorf("%s: got %+v %v, want %+v", topic, got, ok, want)
		}
	}
	for _, bad := range []string{
		"ssc/v1/terminals/T-1", "ssc/v1/terminals/T-1/", "ssc/v1/terminals/T-1/other", "ssc/v2/terminals/T-1/state",
		"ssc/v1/terminals/T_1/state", "ssc/v1/terminals/T-1/cmd/", "ssc/v1/terminals/T-1/cmd/a/", "ssc/v1/terminals/T-1/cmd/a/b",
		"ssc/v1/terminals/T-1/cmd/a b", "ssc/v1/terminals/_fleet/x/sync", "ssc/v1/terminals/T-1/config/desired/x",
	} {
		if p, ok := ParseTopic(tp.Prefix, bad); ok {
			t.Errorf("%s parsed as %+v", bad, p)
		}
	}
	if tp.CommandFilter() != "ssc/v1/terminals/T-1/cmd/+" || Fleet(tp.Prefix, KindState) != "ssc/v1/terminals/+/state" ||
		Fleet(tp.Prefix, KindResult) != "ssc/v1/terminals/+/cmd/+/result" {
		t.Error("filters")
	}
	for _, bad := range []string{"", "/a", "a/", "a//b", "a/+", "#", "$SYS/x", strings.Repeat("a", 201)} {
		if CheckPrefix(bad) == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
}

func FuzzParseTopic(f *testing.F) {
	for _, s := range []string{"p/T-1/state", "p/T-1/cmd/x", "p/T-1/cmd/x/result", "p/x", "p//cmd/", "p/T/config/reported"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		p, ok := ParseTopic("p", topic)
		if !ok {
			return
		}
		// Whatever parses rebuilds to the same topic.
		tp := Topics{Prefix: "p", Terminal: p.Terminal}
		var back string
		switch p.Kind {
		case KindCommand:
			back = tp.Command(p.ID)
		case KindResult:
			back = tp.Result(p.ID)
		default:
			back = tp.base() + p.Kind
		}
		if back != topic {
			t.Fatalf("%q parsed as %+v, rebuilds as %q", topic, p, back)
		}
	})
}

func TestDecodeDesired(t *testing.T) {
	doc := "log:\n  level: debug\n"
	good, _ := json.Marshal(Desired{V: 1, Version: 3, Config: doc, SHA256: rollout.Hash([]byte(doc))})
	d, err := DecodeDesired(good)
	if err != nil || d.Version != 3 || d.Config != doc {
		t.Fatalf("%+v %v", d, err)
	}
	for name, b := range map[string]string{
		"not json":      "log: debug",
		"trailing":      `{"v":1,"version":1,"config":""} x`,
		"version 0":     `{"v":1,"version":0,"config":""}`,
		"protocol v2":   `{"v":2,"version":1,"config":""}`,
		"no v":          `{"version":1,"config":""}`,
		"bad sha":       `{"v":1,"version":1,"config":"a: 1","sha256":"00"}`,
		"huge version":  `{"v":1,"version":18014398509481985,"config":""}`,
		"wrong type":    `{"v":1,"version":"1","config":""}`,
		"negative":      `{"v":1,"version":-1,"config":""}`,
		"config object": `{"v":1,"version":1,"config":{"log":1}}`,
	} {
		if _, err := DecodeDesired([]byte(b)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := DecodeDesired([]byte(`{"v":1,"version":1,"config":"` + strings.Repeat("a", MaxDesiredSize) + `"}`)); err == nil {
		t.Error("oversized accepted")
	}
}

func TestDecodeRequest(t *testing.T) {
	r, err := DecodeRequest([]byte(`{"v":1,"name":"log.level","args":{"level":"debug"},"timeout":5}`))
	if err != nil || r.Name != "log.level" || string(r.Args) != `{"level":"debug"}` || r.Timeout != 5 {
		t.Fatalf("%+v %v", r, err)
	}
	for _, b := range []string{`{}`, `{"v":1}`, `{"v":1,"name":"a b"}`, `{"v":1,"name":"x","timeout":601}`, `{"v":1,"name":"x","timeout":-1}`, `[]`, ``} {
		if _, err := DecodeRequest([]byte(b)); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"version":3,"config":"a: 1"}`))
	f.Add([]byte(`{"v":1,"name":"ping","args":[1,2],"timeout":1.5,"expiresAt":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"v":1,"status":"offline","epoch":7}`))
	f.Add([]byte(`{"v":1} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := DecodeDesired(b); err == nil && (d.Version == 0 || d.V != ProtocolVersion) {
			t.Fatalf("accepted %+v", d)
		}
		if r, err := DecodeRequest(b); err == nil && (r.Name == "" || r.Timeout < 0) {
			t.Fatalf("accepted %+v", r)
		}
		if s, err := DecodeState(b); err == nil && s.Status != StatusOnline && s.Status != StatusOffline {
			t.Fatalf("accepted %+v", s)
		}
	})
}

func TestOutboxLanesAndDrops(t *testing.T) {
	o := newOutbox(Buffer{Events: 2, Telemetry: 1, Results: 16})
	msg := func(s string) item { return item{msg: mqttc.Message{Topic: s}} }
	var lost []string
	o.put(laneTelemetry, msg("t1"))
	o.put(laneTelemetry, item{msg: mqttc.Message{Topic: "t2"}, done: func(sent bool) {
		if !sent {
			lost = append(lost, "t2")
		}
	}})
	o.put(laneTelemetry, msg("t3")) // drops t2
	o.put(laneEvents, msg("e1"))
	o.put(laneEvents, msg("e2"))
	o.put(laneEvents, msg("e3")) // drops e1
	o.put(laneResults, msg("r1"))
	if d := o.drops(); d.Telemetry != 2 || d.Events != 1 || d.Results != 0 {
		t.Fatalf("drops %+v", d)
	}
	if len(lost) != 1 {
		t.Fatalf("dropped item not told: %v", lost)
	}
	var order []string
	for {
		it, l, ok := o.take()
		if !ok {
			break
		}
		order = append(order, it.msg.Topic)
		if it.msg.Topic == "e2" {
			o.giveBack(l, it) // a failed send goes back to the front
			it2, _, _ := o.take()
			if it2.msg.Topic != "e2" {
				t.Fatalf("gave back e2, took %s", it2.msg.Topic)
			}
		}
	}
	if strings.Join(order, ",") != "r1,e2,e3,t3" {
		t.Fatalf("order %v", order)
	}
	if o.len() != 0 {
		t.Fatal("not empty")
	}
	// Giving back into a lane that filled up meanwhile drops it (it is the oldest).
	o.put(laneTelemetry, msg("a"))
	it, l, _ := o.take()
	o.put(laneTelemetry, msg("b"))
	o.giveBack(l, it)
	if d := o.drops(); d.Telemetry != 3 || o.len() != 1 {
		t.Fatalf("drops %+v len %d", d, o.len())
	}
}

func TestConfigValidate(t *testing.T) {
	var ps config.Problems
	DefaultConfig().Validate("mgmt", &ps)
	if ps.Len() != 0 {
		t.Fatalf("defaults invalid: %v", ps.List())
	}
	c := DefaultConfig()
	c.Brokers = []string{"tcp://h:1883", "http://h:1", "tls://h"}
	c.ClientID = "a/b"
	c.TopicPrefix = "a/#"
	c.PasswordFile = "pw"
	c.TLS.CertFile = "c.pem"
	c.KeepAlive = config.Duration(time.Second)
	c.HealthGate.Interval = c.HealthGate.Window
	c.Reconnect.Max = config.Duration(time.Millisecond)
	c.Buffer.Results = 1
	c.Events = []string{"["}
	ps = config.Problems{}
	c.Validate("mgmt", &ps)
	var paths []string
	for _, p := range ps.List() {
		paths = append(paths, p.Path)
	}
	want := "mgmt.brokers[1],mgmt.brokers[2],mgmt.clientId,mgmt.topicPrefix,mgmt.passwordFile,mgmt.tls,mgmt.tls,mgmt.keepAlive,mgmt.healthGate.interval,mgmt.reconnect.max,mgmt.buffer.results,mgmt.events[0]"
	if strings.Join(paths, ",") != want {
		t.Fatalf("paths\n got %s\nwant %s", strings.Join(paths, ","), want)
	}
}

func TestHealthOf(t *testing.T) {
	if h := HealthOf(Devices{}); h.Status != HealthOK || h.Problems != nil {
		t.Fatalf("%+v", h)
	}
	h := HealthOf(Devices{
		Readers:  []Reader{{Name: "ACS 0", Role: "holder", Present: true}, {Name: "ACS 1", Role: "psam"}},
		PSAMs:    []PSAM{{Reader: "ACS 1", Status: "absent"}},
		Scanners: []Scanner{{Name: "front"}},
		Queue:    &Queue{Quarantined: 2},
		Payments: &Payments{Open: 1, NeedsManual: 1},
		Platform: &Platform{},
		Parts:    []Part{{Name: "uploader", State: "restarting"}, {Name: "mgmt", State: "running"}},
	})
	if h.Status != HealthDegraded || len(h.Problems) != 7 || !strings.Contains(strings.Join(h.Problems, "|"), "1 payments need a person") {
		t.Fatalf("%+v", h)
	}
	if h := HealthOf(Devices{Payments: &Payments{Open: 3}}); h.Status != HealthOK {
		t.Fatalf("open payments are not a problem: %+v", h)
	}
}

func TestMaskJSON(t *testing.T) {
	b, err := maskJSON(map[string]any{
		"id": "350102199003077898", "nested": []any{"card 11010519491231002X lost", 42, 350102199003077898},
		"sha": "350102199003077898abcdef", "phone": "13312344387",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, leak := range []string{"350102199003077898\"", "11010519491231002X", "13312344387"} {
		if strings.Contains(s, leak) {
			t.Errorf("%s leaked in %s", leak, s)
		}
	}
	for _, keep := range []string{"**************7898", "**************002X", "350102199003077898abcdef", "42", "350102199003077898]"} {
		if !strings.Contains(s, keep) {
			t.Errorf("%s missing in %s", keep, s)
		}
	}
}

// The birth's registration carries the spec 6.3 c and 9.3.2 a items.
func TestRegistrationOf(t *testing.T) {
	id := terminal.Identity{ID: "T1", Region: "350100", InstitutionNo: "JG-1", SoftwareVendor: "示例软件",
		Businesses: []string{"医保结算"}}
	b, err := json.Marshal(RegistrationOf(id))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"institutionNo":"JG-1"`, `"softwareVendor":"示例软件"`, `"cardProvinces":["35"]`, `"businesses":["医保结算"]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("no %s in %s", want, b)
		}
	}
}
