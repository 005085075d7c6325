package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/mgmt"
)

// Banner says what runs where and how to drive it.
func Banner(env *Env, apiAddr, metricsAddr string) string {
	cfg := env.Config
	show := func(p string) string { // relative to the working directory when shorter
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
				return r
			}
		}
		return p
	}
	var scenes []string
	for _, s := range cfg.Scenes {
		scenes = append(scenes, fmt.Sprintf("%s (%s)", s.Name, s.Kind))
	}
	topics := mgmt.Topics{Prefix: cfg.Mgmt.TopicPrefix, Terminal: cfg.Terminal.ID}
	api := apiAddr
	if env.APIFallback {
		api += fmt.Sprintf(" (%s was taken)", DefaultAPIAddr)
	}
	tok := show(filepath.Join(env.Dir, TokenFile))
	var b strings.Builder
	fmt.Fprintf(&b, "\nsscagent demo: 社会保障卡一卡通终端代理, on test equipment only\n")
	fmt.Fprintf(&b, "  terminal     %s (test terminal), scenes %s\n", cfg.Terminal.ID, strings.Join(scenes, ", "))
	fmt.Fprintf(&b, "  platform     sandbox at %s (test keys, self-signed certificate)\n", cfg.Platform.BaseURL)
	fmt.Fprintf(&b, "  management   embedded MQTT broker %s, topics %s/…\n", env.Broker.URL(), strings.TrimSuffix(topics.State(), "/"+mgmt.KindState))
	fmt.Fprintf(&b, "               signed with the demo's manager key, e.g. sscagent fleet cmd --broker %s --signing-key %s ping %s\n",
		env.Broker.URL(), show(filepath.Join(env.Dir, ManagerKeyFile)), cfg.Terminal.ID)
	fmt.Fprintf(&b, "  card reader  %q (empty) and a virtual PSAM in %q\n", readers.SimCardReader, readers.SimPSAMSlot)
	fmt.Fprintf(&b, "  QR scanner   this console: a line you type or paste is a scanned code\n")
	fmt.Fprintf(&b, "  gate         HTTP hook %s\n", env.Gate.URL())
	fmt.Fprintf(&b, "  local API    http://%s, bearer token in %s, e.g.\n", api, tok)
	fmt.Fprintf(&b, "               curl -H \"Authorization: Bearer $(cat %s)\" http://%s/v1/status\n", tok, apiAddr)
	if metricsAddr != "" {
		fmt.Fprintf(&b, "  metrics      curl http://%s/metrics (Prometheus text format, no personal data)\n", metricsAddr)
	}
	fmt.Fprintf(&b, "  files        %s (configuration), %s (logs), %s (state)\n",
		show(env.ConfigPath), show(filepath.Join(env.Dir, LogFile)), show(cfg.Agent.StateDir))
	fmt.Fprintf(&b, "\nTry:  :insert 张三   :qr 王五   :pay 12.50 then :qr 王五   :insert 赵六   :fault backflow:http:count=3\n\n")
	b.WriteString(Help)
	b.WriteString("\n")
	return b.String()
}
