package prompt

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	m := Lookup(CodeBadInput)
	if got := m.Render(Maintainer, ZH); got != "入参格式错误[900001]" {
		t.Fatalf("maintainer text %q", got)
	}
	if got := m.Render(Holder, EN); strings.Contains(got, "900001") {
		t.Fatalf("holder text carries a code: %q", got)
	}
	if Lookup(123456).Render(Maintainer, EN) != "Internal error[123456]" {
		t.Fatal("unknown code lost")
	}
}

// TestCatalogueRules checks every registered message: holder texts free of codes and
// brackets, both languages present.
func TestCatalogueRules(t *testing.T) {
	for _, m := range Catalogue() {
		for _, tx := range []Text{m.Holder, m.Operator, m.Maintainer} {
			if tx.ZH == "" || tx.EN == "" {
				t.Errorf("%v: missing a language: %+v", m.Code, tx)
			}
		}
		for _, l := range []Lang{ZH, EN} {
			h := m.Render(Holder, l)
			if strings.ContainsAny(h, "[]0123456789") && !strings.Contains(h, ":") {
				t.Errorf("%v: holder text has codes or digits: %q", m.Code, h)
			}
		}
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("duplicate code accepted")
		}
	}()
	Register(Message{Code: CodeOK, Holder: Text{ZH: "x"}, Operator: Text{ZH: "x"}, Maintainer: Text{ZH: "x"}})
}

func TestWithCause(t *testing.T) {
	m := Lookup(CodeBadInput).WithCause(Text{ZH: "字段 socialSecurityNo 校验位错误 110105194912314432", EN: "socialSecurityNo check digit"})
	if got := m.Render(Operator, ZH); got != "入参格式错误，请核对后重新提交，原因为字段 socialSecurityNo 校验位错误 **************4432" {
		t.Errorf("operator zh %q", got)
	}
	if got := m.Render(Maintainer, EN); got != "Input format error: socialSecurityNo check digit[900001]" {
		t.Errorf("maintainer en %q", got)
	}
	if m.Holder != Lookup(CodeBadInput).Holder {
		t.Error("holder text changed")
	}
	if got := Lookup(CodeBadInput).WithCause(Text{EN: "bad"}).Render(Maintainer, ZH); got != "入参格式错误：bad[900001]" {
		t.Errorf("fallback %q", got)
	}
	if Lookup(CodeOK).WithCause(Text{}) != Lookup(CodeOK) {
		t.Error("empty cause changed the message")
	}
}

// TestLookupConcurrent runs Lookup of known and unknown codes next to Register under
// the race detector.
func TestLookupConcurrent(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			Lookup(Code(199000 + i))
		}
	}()
	mu.RLock()
	_, registered := catalogue[199999] // by an earlier run under -count
	mu.RUnlock()
	if !registered {
		Register(Message{Code: 199999, Holder: Text{"x", "x"}, Operator: Text{"x", "x"}, Maintainer: Text{"x", "x"}})
	}
	<-done
	if Lookup(199999).Holder.ZH != "x" {
		t.Fatal("registered message not found")
	}
}
