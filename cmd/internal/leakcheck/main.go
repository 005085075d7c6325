// Command leakcheck reads what a test run's agents wrote where a production agent's
// output goes (labtest.LogEnv: their logs through the masking logger, their events, the
// output of the child processes and demo runs the tests captured) and fails when it
// holds a secret or clear personal data of the shared test identities: a PIN, a face
// image, a login ticket, an e-card code, a test key, an ID number or a name in clear.
// The values come from the same sources the tests use (the sandbox's seed, the virtual
// cards, the published test keys, the built-in portraits), not from a list kept here.
//
// A log that holds no masked test identity at all fails too: then nothing was checked.
//
//	go run ./cmd/internal/leakcheck FILE...
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/platform/protocol"
)

// A secret is one thing that must not be there.
type secret struct {
	what    string         // printed: never the value itself
	literal string         // found as is, or
	re      *regexp.Regexp // matched
}

func (s secret) find(line string) (int, int) {
	if s.re != nil {
		if m := s.re.FindStringIndex(line); m != nil {
			return m[0], m[1]
		}
		return -1, -1
	}
	if i := strings.Index(line, s.literal); i >= 0 {
		return i, i + len(s.literal)
	}
	return -1, -1
}

// exempt are the lines of the sandbox's own usage text, which shows how to name a test
// identity to the sandbox's control API (/_sim/...) and its login-approve flag: they
// are the sandbox teaching its test data, not an agent writing a holder's.
var exempt = []*regexp.Regexp{
	regexp.MustCompile(`^\s*curl -s -X POST http://[^ ]+/_sim/`),
	regexp.MustCompile(`the holder who approves \(a registered ID number\) \(default "`),
}

// Channels whose test SM4 key the tests configure.
var channels = []string{"350100000001", "100000000001", "999999999999"}

func secrets() (list []secret, canaries []string) {
	var names []string
	addPerson := func(id, name string) {
		list = append(list, secret{what: "clear ID number of " + mask.IDNumber(id), literal: id})
		canaries = append(canaries, mask.IDNumber(id))
		names = append(names, regexp.QuoteMeta(name))
	}
	for _, p := range platformsim.DefaultRegistry().Persons {
		addPerson(p.IDNumber, p.Name)
	}
	for _, n := range cardsim.ShippedNames() {
		if p, err := cardsim.Shipped(n); err == nil && p.EF06.SSN != "" {
			addPerson(p.EF06.SSN, p.EF06.Name)
		}
	}
	list = append(list,
		secret{what: "clear name in a field", re: regexp.MustCompile(`(?i)name["']?\s*[:=]\s*"?(` + strings.Join(names, "|") + `)`)},
		secret{what: "an e-card code", re: regexp.MustCompile(`ESSC[A-Z2-7]{40}`)},
		secret{what: "a login ticket", re: regexp.MustCompile(`sscsim-login:[A-Za-z0-9]`)},
		secret{what: "a PIN", re: regexp.MustCompile(`(?i)\bpin["']?\s*[:=]\s*"?[0-9]{4,16}\b`)},
		secret{what: "a private key", re: regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)},
	)
	for _, ch := range channels {
		k := protocol.TestSM4Key(ch)
		for _, enc := range []string{hex.EncodeToString(k), strings.ToUpper(hex.EncodeToString(k)), base64.StdEncoding.EncodeToString(k)} {
			list = append(list, secret{what: "the test SM4 key of channel " + ch, literal: enc})
		}
	}
	for _, p := range platformsim.DefaultRegistry().Persons {
		img, ok := platformsim.Portrait(p.IDNumber)
		if !ok || len(img) < 48 {
			continue
		}
		// An image goes out in base64 from its first byte: its first 64 characters.
		list = append(list, secret{what: "the portrait of " + mask.IDNumber(p.IDNumber), literal: base64.StdEncoding.EncodeToString(img[:48])},
			secret{what: "the portrait of " + mask.IDNumber(p.IDNumber) + " in hex", literal: hex.EncodeToString(img[:24])})
	}
	return list, canaries
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: leakcheck FILE...")
		os.Exit(2)
	}
	list, canaries := secrets()
	hits, lines, seen := 0, 0, false
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "leakcheck: %v\n", err)
			os.Exit(1)
		}
		n, c := scan(f, path, list, canaries, os.Stdout, &hits)
		f.Close()
		lines += n
		seen = seen || c
	}
	switch {
	case hits > 0:
		fmt.Printf("leakcheck: %d line(s) in %d hold a secret or clear personal data (shown redacted)\n", hits, lines)
		os.Exit(1)
	case !seen:
		fmt.Printf("leakcheck: %d lines and no masked test identity among them: the run collected nothing to check (is %s set?)\n", lines, "SSCAGENT_TEST_LOG")
		os.Exit(1)
	}
	fmt.Printf("leakcheck: %d lines checked against %d secrets: none found\n", lines, len(list))
}

// maxShown bounds the lines printed; the count covers all.
const maxShown = 30

// scan reads r line by line, prints each line that holds a secret with the secret
// redacted, and counts them in hits. It returns the lines read and whether a canary (a
// masked test identity) was seen.
func scan(r io.Reader, path string, list []secret, canaries []string, out io.Writer, hits *int) (lines int, canary bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		lines++
		line := sc.Text()
		if !canary {
			for _, c := range canaries {
				if strings.Contains(line, c) {
					canary = true
					break
				}
			}
		}
		if isExempt(line) {
			continue
		}
		var whats []string
		for _, s := range list {
			for {
				i, j := s.find(line)
				if i < 0 {
					break
				}
				line = line[:i] + "[REDACTED]" + line[j:]
				whats = appendOnce(whats, s.what)
			}
		}
		if len(whats) == 0 {
			continue
		}
		*hits++
		if *hits <= maxShown {
			if len(line) > 400 {
				line = line[:400] + "…"
			}
			fmt.Fprintf(out, "%s:%d: %s: %s\n", path, lines, strings.Join(whats, ", "), line)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "%s: %v\n", path, err)
		*hits++
	}
	return lines, canary
}

func isExempt(line string) bool {
	for _, re := range exempt {
		if re.MatchString(line) {
			return true
		}
	}
	return false
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
