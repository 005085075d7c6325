package demo

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/drivers/simreader"
	"github.com/sscagent/sscagent/internal/mask"
)

// Person is one of the shared test identities the demo knows by name.
type Person struct {
	Name     string // 张三
	Pinyin   string // zhangsan
	IDNumber string // 社会保障号码
	// Card is the virtual card's profile name; "" for a person without a card.
	Card string
	// ECard: the person holds an electronic social security card.
	ECard bool
	// Note says what the sandbox does with this person.
	Note string
}

// People are the shared test identities (the sandbox's registry and the virtual cards).
var People = []Person{
	{"张三", "zhangsan", "350102199003077898", "zhangsan", true, "gen-3 SM4 card; e-card with payment"},
	{"李四", "lisi", "350121198511160027", "lisi", true, "gen-2 3DES card; e-card for identity only"},
	{"王五", "wangwu", "350103197001011235", "", true, "no card; e-card with payment"},
	{"赵六", "zhaoliu", "350203199512304560", "zhaoliu", false, "card reported lost: refused; no e-card"},
	{"钱七", "qianqi", "11010519491231002X", "", false, "unknown to the platform"},
}

// PersonNamed finds a person by Chinese name or pinyin (case ignored).
func PersonNamed(name string) (Person, bool) {
	for _, p := range People {
		if name == p.Name || strings.EqualFold(name, p.Pinyin) {
			return p, true
		}
	}
	return Person{}, false
}

func (c *Controls) hub() *simreader.Hub {
	if c.Hub == nil {
		return nil
	}
	return c.Hub()
}

func (c *Controls) insert(args []string) {
	hub := c.hub()
	if hub == nil {
		c.Console.Line("demo", Warn, "no virtual card reader (cards.driver is not sim)")
		return
	}
	if len(args) != 1 {
		c.Console.Line("demo", Warn, "usage: :insert 张三|李四|赵六 (or a shipped profile: %s)", strings.Join(cardsim.ShippedNames(), ", "))
		return
	}
	profile, who := args[0], args[0] // a shipped profile or a file: no person's name
	if p, ok := PersonNamed(args[0]); ok {
		if p.Card == "" {
			c.Console.Line("demo", Warn, "%s has no physical card (%s); try :qr", mask.Name(p.Name), p.Note)
			return
		}
		profile, who = p.Card, mask.Name(p.Name)
	}
	if err := checkProfileFile(profile); err != nil {
		c.Console.Line("demo", Bad, "no such card %q: %s", args[0], maskErr(err))
		return
	}
	card, err := cardsim.LoadCard(profile)
	if err != nil {
		c.Console.Line("demo", Bad, "no such card %q: %s", args[0], maskErr(err))
		return
	}
	hub.Remove(readers.SimCardReader)
	if err := hub.Insert(readers.SimCardReader, card); err != nil {
		c.Console.Line("demo", Bad, "insert: %s", maskErr(err))
		return
	}
	c.Console.Line("demo", Plain, "inserted %s's card into %q", who, readers.SimCardReader)
}

// maxProfile bounds a card profile file (the shipped ones are under 2 KiB).
const maxProfile = 64 << 10

// checkProfileFile refuses a profile path that is not a small regular file, which
// cardsim would read whole (":insert /dev/zero").
func checkProfileFile(name string) error {
	if !strings.ContainsAny(name, `/\.`) {
		return nil // a shipped profile's name
	}
	fi, err := os.Stat(name)
	switch {
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", name)
	case fi.Size() > maxProfile:
		return fmt.Errorf("%s is larger than %d KiB: not a card profile", name, maxProfile>>10)
	}
	return nil
}

func (c *Controls) remove() {
	hub := c.hub()
	if hub == nil {
		c.Console.Line("demo", Warn, "no virtual card reader (cards.driver is not sim)")
		return
	}
	hub.Remove(readers.SimCardReader)
	c.Console.Line("demo", Plain, "removed the card from %q", readers.SimCardReader)
}

func (c *Controls) qr(ctx context.Context, args []string) {
	if len(args) != 1 {
		c.Console.Line("demo", Warn, "usage: :qr 王五|张三|李四")
		return
	}
	p, ok := PersonNamed(args[0])
	if !ok {
		c.Console.Line("demo", Warn, "unknown person %q: one of 张三 李四 王五 赵六 钱七", args[0])
		return
	}
	if c.Sandbox == nil {
		c.Console.Line("demo", Warn, "no sandbox platform to issue a code")
		return
	}
	code, exp, err := c.Sandbox.IssueQR(p.IDNumber)
	if err != nil {
		c.Console.Line("demo", Bad, "the sandbox issues no e-card code for %s: %s", mask.Name(p.Name), maskErr(err))
		return
	}
	// The code is a secret: only its length is shown.
	c.scan(ctx, code, fmt.Sprintf("the sandbox issued %s's e-card code (%d characters, valid until %s)",
		mask.Name(p.Name), len(code), exp.Local().Format("15:04:05")))
}
