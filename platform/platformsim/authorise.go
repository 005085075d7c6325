package platformsim

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/platform/protocol"
)

// Authorisation is what a real platform registers per channel: the services
// (operations) it may call, the terminals it may call for and the addresses it may
// call from. The sandbox learns it from `sscsim platform --authorise FILE`, so that the
// refusals 900005 (channel not authorised) and 900006 (service not authorised) can be
// rehearsed. A channel the file does not list is not authorised.
type Authorisation struct {
	Channels map[string]ChannelAuthorisation `yaml:"channels"`
}

// ChannelAuthorisation is one channel's entry. An empty list allows everything.
type ChannelAuthorisation struct {
	// Operations are the operations the channel may call (internal names).
	Operations []string `yaml:"operations"`
	// Terminals are the terminal ids (terminalId) registered for the channel.
	Terminals []string `yaml:"terminals"`
	// Addresses are the IP addresses or prefixes (CIDR) it may call from.
	Addresses []string `yaml:"addresses"`

	prefixes []netip.Prefix
}

// ParseAuthorisation decodes an authorisation document strictly:
//
//	channels:
//	  "350100000001":
//	    operations: [cardAuth, ecardDecode]
//	    terminals: [SSC-DEMO-0001]
//	    addresses: [127.0.0.1, 10.0.0.0/8]
func ParseAuthorisation(doc []byte) (*Authorisation, error) {
	var a Authorisation
	if err := config.Decode(doc, &a); err != nil {
		return nil, err
	}
	var ps config.Problems
	for no, ch := range a.Channels {
		at := config.Join("channels", no)
		if len(no) != 12 || strings.Trim(no, "0123456789") != "" {
			ps.Addf(at, "channel number must be 12 digits")
		}
		for i, op := range ch.Operations {
			if _, ok := protocol.LookupOp(protocol.Op(op)); !ok {
				ps.Addf(config.Index(config.Join(at, "operations"), i), "unknown operation %q", op)
			}
		}
		for i, t := range ch.Terminals {
			if t == "" || len(t) > 32 {
				ps.Addf(config.Index(config.Join(at, "terminals"), i), "must be 1-32 characters")
			}
		}
		for i, addr := range ch.Addresses {
			p, err := netip.ParsePrefix(addr)
			if err != nil {
				ip, ierr := netip.ParseAddr(addr)
				if ierr != nil {
					ps.Addf(config.Index(config.Join(at, "addresses"), i), "not an IP address or prefix: %q", addr)
					continue
				}
				p = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
			}
			ch.prefixes = append(ch.prefixes, p.Masked())
		}
		a.Channels[no] = ch
	}
	return &a, ps.Err()
}

// LoadAuthorisation reads an authorisation file.
func LoadAuthorisation(path string) (*Authorisation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	a, err := ParseAuthorisation(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// check returns the refusal of a verified request, or "" when it is authorised. An
// empty terminal is not checked (the data is not read yet); a nil Authorisation allows
// everything.
func (a *Authorisation) check(channel string, op protocol.Op, terminal, from string) (code, msg string) {
	if a == nil {
		return "", ""
	}
	ch, ok := a.Channels[channel]
	if !ok {
		return protocol.CodeNoChannel, "渠道未授权"
	}
	if len(ch.prefixes) > 0 {
		ip, err := netip.ParseAddr(from)
		if err != nil || !slices.ContainsFunc(ch.prefixes, func(p netip.Prefix) bool { return p.Contains(ip.Unmap()) }) {
			return protocol.CodeNoChannel, "渠道未授权：来源地址未登记"
		}
	}
	if len(ch.Operations) > 0 && !slices.Contains(ch.Operations, string(op)) {
		return protocol.CodeNoService, "服务未授权"
	}
	if terminal != "" && len(ch.Terminals) > 0 && !slices.Contains(ch.Terminals, terminal) {
		return protocol.CodeNoChannel, "渠道未授权：终端未登记"
	}
	return "", ""
}
