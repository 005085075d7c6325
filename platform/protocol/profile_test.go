package protocol

import (
	"errors"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/config"
)

func TestBuiltinProfilesCompile(t *testing.T) {
	for _, name := range BuiltinProfiles() {
		d := MustDialect(name)
		if d.Name() != name {
			t.Errorf("%s: name %q", name, d.Name())
		}
	}
	// The sscsim profile is exactly the defaults: an empty profile means the same.
	def, err := Compile(Profile{Name: ProfileSSCSim})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustYAML(t, def.Profile()), mustYAML(t, MustDialect(ProfileSSCSim).Profile()); a != b {
		t.Errorf("sscsim differs from the defaults:\n%s\n---\n%s", a, b)
	}
}

func TestProfileErrorsNamePaths(t *testing.T) {
	cases := []struct{ doc, path string }{
		{"profile: {nmae: x}", "profile.nmae"},
		{"profile: {envelope: {payload: xml}}", "profile.envelope.payload"},
		{"profile: {envelope: {requestId: hex16}}", "profile.envelope.requestId"},
		{"profile: {envelope: {timestamp: unix}}", "profile.envelope.timestamp"},
		{"profile: {envelope: {request: {data: requestId}}}", "profile.envelope.request.data"},
		{"profile: {envelope: {response: {msg: 'a b'}}}", "profile.envelope.response.msg"},
		{"profile: {envelope: {canonical: {join: '=', assign: '='}}}", "profile.envelope.canonical.assign"},
		{"profile: {values: {date: DD.MM.YYYY}}", "profile.values.date"},
		{"profile: {values: {amount: jiao}}", "profile.values.amount"},
		{"profile: {operations: {cardPay: {path: /x}}}", "profile.operations.cardPay"},
		{"profile: {operations: {cardAuth: {fields: {idNo: AAC002}}}}", "profile.operations.cardAuth.fields.idNo"},
		{"profile: {operations: {cardAuth: {fields: {idNumber: AAC002, name: AAC002}}}}", "profile.operations.cardAuth.fields."},
		{"profile: {operations: {cardAuth: {fields: {idNumber: cardNo}}}}", "profile.operations.cardAuth.fields."},
		{"profile: {operations: {cardAuth: {fields: {idNumber: 'a-b'}}}}", "profile.operations.cardAuth.fields.idNumber"},
		{"profile: {operations: {cardAuth: {encrypt: [idNo]}}}", "profile.operations.cardAuth.encrypt[0]"},
		{"profile: {operations: {cardAuth: {path: api}}}", "profile.operations.cardAuth.path"},
		{"profile: {operations: {backflow: {fields: {'records[].recordId': kind}}}}", "profile.operations.backflow.fields.records[]."},
		{"profile: {msgCodes: {'900008': later}}", "profile.msgCodes.900008"},
		{"profile: {envelope: {successCode: '0'}, msgCodes: {'0': rejected}}", "profile.msgCodes.0"},
		{"profile: {signature: {format: p1363}}", "profile.signature.format"},
		{"profile: {sm4: {mode: ctr}}", "profile.sm4.mode"},
	}
	for _, c := range cases {
		_, err := ParseProfile([]byte(c.doc))
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: err %v, want *config.Error", c.doc, err)
			continue
		}
		found := false
		for _, p := range ce.Problems {
			found = found || strings.HasPrefix(p.Path, c.path)
		}
		if !found {
			t.Errorf("%s: no problem at %s: %v", c.doc, c.path, err)
		}
	}
}

func TestDialectIDsAndTimes(t *testing.T) {
	for _, f := range []string{IDHex32, IDDigits32, IDUUID} {
		d, err := Compile(Profile{Envelope: EnvelopeProfile{RequestID: f}})
		if err != nil {
			t.Fatal(err)
		}
		id := d.NewRequestID()
		if !d.IsRequestID(id) {
			t.Errorf("%s: %q refused", f, id)
		}
		for _, other := range []string{IDHex32, IDDigits32, IDUUID} {
			o, _ := Compile(Profile{Envelope: EnvelopeProfile{RequestID: other}})
			if other != f && o.IsRequestID(id) && !(f == IDDigits32 && other == IDHex32) {
				t.Errorf("%s id %q accepted as %s", f, id, other)
			}
		}
	}
	d, _ := Compile(Profile{Envelope: EnvelopeProfile{Timestamp: TimeCompact}})
	ts, err := d.ParseTime("20261204153000")
	if err != nil || d.FormatTime(ts) != "20261204153000" {
		t.Errorf("compact time: %v %v", ts, err)
	}
	if _, err := d.ParseTime("2026-12-04 15:30:00"); err == nil {
		t.Error("dashed time accepted by a compact profile")
	}
}

func TestAmounts(t *testing.T) {
	for yuan, fen := range map[string]string{"12.50": "1250", "0.00": "0", "-3.05": "-305", "0.01": "1", "99999999.99": "9999999999"} {
		if got, err := YuanToFen(yuan); err != nil || got != fen {
			t.Errorf("YuanToFen(%s) = %s, %v", yuan, got, err)
		}
		if got, err := FenToYuan(fen); err != nil || got != yuan {
			t.Errorf("FenToYuan(%s) = %s, %v", fen, got, err)
		}
	}
	for _, bad := range []string{"12.5", "12", "a.bc", "012.50", "", "-", "1.234"} {
		if _, err := YuanToFen(bad); err == nil {
			t.Errorf("YuanToFen(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"12.50", "012", "", "-", "1e3"} {
		if _, err := FenToYuan(bad); err == nil {
			t.Errorf("FenToYuan(%q) accepted", bad)
		}
	}
}

func mustYAML(t *testing.T, p Profile) string {
	t.Helper()
	b, err := p.YAML()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
