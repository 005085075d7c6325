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
