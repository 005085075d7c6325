package records

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestMain keeps the default warning hook out of the test output; the tests that look at
// warnings install their own recorder.
func TestMain(m *testing.M) {
	SetWarn(func(string, string) {})
	os.Exit(m.Run())
}

// recorder collects warnings. Installing it (SetWarn) also empties the set of values
// already reported, so each test starts afresh; tests still use values of their own.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func record(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{}
	SetWarn(func(field, value string) {
		r.mu.Lock()
		r.got = append(r.got, field+"="+value)
		r.mu.Unlock()
	})
	t.Cleanup(func() { SetWarn(func(string, string) {}) })
	return r
}

func (r *recorder) count(fieldValue string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, g := range r.got {
		if g == fieldValue {
			n++
		}
	}
	return n
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// TestOpenListsWarnOnce: a value outside an open list passes with one warning; the same
// value again (also spelled with other white space or full-width forms, also in another
// record) warns no more; another field or another value warns again.
func TestOpenListsWarnOnce(t *testing.T) {
	r := record(t)
	u := "测试场景" + t.Name() // unique to this test
	for i, sc := range []string{u + "/一", " " + u + " ／二", u} {
		c := mustParse(t, KindCredential, with(t, KindCredential, map[string]any{"scene": sc})).(*Credential)
		if want := []string{u + "/一", u + "/二", u}[i]; c.Scene != want {
			t.Errorf("scene %q -> %q, want %q", sc, c.Scene, want)
		}
	}
	mustParse(t, KindPayment, with(t, KindPayment, map[string]any{"paymentScene": u + "/三"}))
	if n := r.count("scene=" + u); n != 1 {
		t.Errorf("scene %s warned %d times: %v", u, n, r.all())
	}
	if n := r.count("paymentScene=" + u); n != 1 {
		t.Errorf("paymentScene %s warned %d times: %v", u, n, r.all())
	}
	for _, g := range r.all() {
		if strings.Contains(g, "/") {
			t.Errorf("the free-text extension was reported: %s", g)
		}
	}

	// Every open list, each value once; listed values never.
	for _, tc := range []struct {
		kind         Kind
		field, value string
	}{
		{KindPayment, "cardType", "社保卡" + t.Name()},
		{KindBenefit, "benefitType", "港澳台" + t.Name()},
		{KindBenefit, "payoutStatus", "部分成功" + t.Name()},
		{KindCredential, "coordinateSystem", "WGS84-" + t.Name()},
		{KindPayment, "coordinateSystem", "CGCS2000-" + t.Name()},
		{KindCredential, "businessStatus", "处理中" + t.Name()},
	} {
		for i := 0; i < 2; i++ {
			rec := mustParse(t, tc.kind, with(t, tc.kind, map[string]any{tc.field: tc.value}))
			if got := valueOf(rec, tc.field); got != tc.value {
				t.Errorf("%s.%s: %q kept as %q", tc.kind, tc.field, tc.value, got)
			}
		}
		if n := r.count(tc.field + "=" + tc.value); n != 1 {
			t.Errorf("%s.%s=%s warned %d times", tc.kind, tc.field, tc.value, n)
		}
	}
	before := len(r.all())
	for k, raw := range examples {
		mustParse(t, k, raw)
	}
	mustParse(t, KindPayment, with(t, KindPayment, map[string]any{"cardType": "实体社会保障卡", "coordinateSystem": "BD09"}))
	mustParse(t, KindCredential, with(t, KindCredential, map[string]any{"scene": "人社服务/x", "businessStatus": "未响应"}))
	if got := r.all()[before:]; len(got) != 0 {
		t.Errorf("listed values warned: %v", got)
	}
}

// TestWarnOnlyValidRecords: a refused record reports nothing (its ValidationError says
// what is wrong); the same value in a valid record later is reported.
func TestWarnOnlyValidRecords(t *testing.T) {
	r := record(t)
	u := "自定义" + t.Name()
	problemsOf(t, KindPayment, with(t, KindPayment, map[string]any{"cardType": u, "amount": "x"}))
	if n := r.count("cardType=" + u); n != 0 {
		t.Fatalf("refused record warned %d times", n)
	}
	p := mustParse(t, KindPayment, with(t, KindPayment, map[string]any{"cardType": u}))
	if n := r.count("cardType=" + u); n != 1 {
		t.Fatalf("valid record warned %d times", n)
	}
	// Validate, Normalize and Encode of records built in Go report too, once.
	u2 := "另一种" + t.Name()
	p.(*Payment).CardType = u2
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := Encode(p); err != nil {
		t.Fatal(err)
	}
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	if n := r.count("cardType=" + u2); n != 1 {
		t.Fatalf("Go-built record warned %d times", n)
	}
}

// TestWarnMasksAndBounds: the warned value passes through mask.Text (a number shaped like
// an ID slipped into an open field is not repeated) and is cut to 64 characters.
func TestWarnMasksAndBounds(t *testing.T) {
	r := record(t)
	id := "350102199003077898"
	mustParse(t, KindPayment, with(t, KindPayment, map[string]any{"cardType": "卡" + id + t.Name()}))
	long := strings.Repeat("长", 200) + t.Name()
	mustParse(t, KindBenefit, with(t, KindBenefit, map[string]any{"benefitType": long}))
	for _, g := range r.all() {
		if strings.Contains(g, id) || strings.Contains(g, "19900307") {
			t.Errorf("warning repeats an ID number: %s", g)
		}
	}
	found := false
	for _, g := range r.all() {
		if v, ok := strings.CutPrefix(g, "benefitType="); ok && strings.HasPrefix(v, "长长") {
			found = true
			if n := len([]rune(v)); n > maxWarnValue+1 {
				t.Errorf("warned value is %d characters", n)
			}
		}
	}
	if !found {
		t.Error("long value not reported")
	}
}

// TestWarnBounded: the set of reported values stays bounded; once it is full it starts
// over, so memory does not grow with hostile input.
func TestWarnBounded(t *testing.T) {
	r := record(t)
	first := "首个" + t.Name()
	warn([]unlistedValue{{"cardType", first}})
	for i := 0; i < maxWarned; i++ {
		warn([]unlistedValue{{"cardType", t.Name() + itoa(i)}})
	}
	warnings.Lock()
	n := len(warnings.seen)
	warnings.Unlock()
	if n > maxWarned {
		t.Fatalf("%d values remembered", n)
	}
	warn([]unlistedValue{{"cardType", first}})
	if c := r.count("cardType=" + first); c != 2 {
		t.Fatalf("after the set started over, %s warned %d times in all", first, c)
	}
}

// TestWarnDefaultSlog: without a hook the warning goes to slog.Default.
func TestWarnDefaultSlog(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	SetWarn(nil)
	t.Cleanup(func() {
		slog.SetDefault(old)
		SetWarn(func(string, string) {})
	})
	u := "默认" + t.Name()
	mustParse(t, KindBenefit, with(t, KindBenefit, map[string]any{"payoutStatus": u}))
	mustParse(t, KindBenefit, with(t, KindBenefit, map[string]any{"payoutStatus": u}))
	out := buf.String()
	if strings.Count(out, "value="+u) != 1 || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "field=payoutStatus") {
		t.Fatalf("slog output:\n%s", out)
	}
}

// TestWarnConcurrent: Parse reports from many goroutines at once, each value once (run
// with -race).
func TestWarnConcurrent(t *testing.T) {
	r := record(t)
	var raws [][]byte
	for i := 0; i < 5; i++ {
		raws = append(raws, []byte(with(t, KindPayment, map[string]any{"cardType": t.Name() + itoa(i)})))
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := Parse(KindPayment, raws[i%5]); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i := 0; i < 5; i++ {
		if n := r.count("cardType=" + t.Name() + itoa(i)); n != 1 {
			t.Errorf("value %d warned %d times", i, n)
		}
	}
}
