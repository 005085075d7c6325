package platform

import (
	"fmt"
	"maps"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/platform/protocol"
)

// deprecated returns the deprecated settings (platform.signature, sm4, operations and
// msgCodes) as a partial profile, and whether any is set.
func (c Config) deprecated() (protocol.Profile, bool) {
	old := protocol.Profile{Signature: c.Signature, SM4: c.SM4, MsgCodes: c.MsgCodes}
	for name, o := range c.Operations {
		if old.Operations == nil {
			old.Operations = map[string]protocol.OperationProfile{}
		}
		old.Operations[name] = protocol.OperationProfile{Path: o.Path, ServiceCode: o.ServiceCode}
	}
	set := c.Signature != (SignatureConfig{}) || c.SM4 != (SM4Config{}) || len(c.MsgCodes) > 0 || len(c.Operations) > 0
	return old, set
}

// Deprecations returns one warning per deprecated setting in use, naming the key of
// the profile that replaces it. The settings still work for this release.
func (c Config) Deprecations() []string {
	var out []string
	add := func(set bool, old, repl string) {
		if set {
			out = append(out, fmt.Sprintf("platform.%s is deprecated: set profile.%s in the platform profile (platform.profile, docs/platform-profiles.md); it overrides the profile for this release",
				old, repl))
		}
	}
	add(c.Signature != (SignatureConfig{}), "signature", "signature")
	add(c.SM4 != (SM4Config{}), "sm4", "sm4")
	add(len(c.Operations) > 0, "operations", "operations.OP.path and serviceCode")
	add(len(c.MsgCodes) > 0, "msgCodes", "msgCodes")
	return out
}

// EffectiveProfile returns the profile the client speaks: platform.profile (default
// sscsim) with the deprecated settings laid over it. Problems are a *config.Error
// whose paths name where each setting is written.
func (c Config) EffectiveProfile() (protocol.Profile, error) {
	var ps config.Problems
	old, set := c.deprecated()
	if set {
		old.Validate("platform", &ps) // the old keys, at their old paths
	}
	base, err := protocol.LoadProfile(c.Profile)
	if err != nil {
		return base, joinProblems(&ps, "platform.profile", err)
	}
	if err := ps.Err(); err != nil {
		return base, err
	}
	if !set {
		return base.WithDefaults(), nil
	}
	if old.Signature.SignerID != "" {
		base.Signature.SignerID = old.Signature.SignerID
	}
	if old.Signature.Format != "" {
		base.Signature.Format = old.Signature.Format
	}
	if old.Signature.Encoding != "" {
		base.Signature.Encoding = old.Signature.Encoding
	}
	if old.SM4.Mode != "" {
		base.SM4.Mode = old.SM4.Mode
	}
	if old.SM4.Encoding != "" {
		base.SM4.Encoding = old.SM4.Encoding
	}
	if len(old.MsgCodes) > 0 {
		base.MsgCodes = maps.Clone(base.MsgCodes)
		if base.MsgCodes == nil {
			base.MsgCodes = map[string]string{}
		}
		maps.Copy(base.MsgCodes, old.MsgCodes)
	}
	base.Operations = maps.Clone(base.Operations)
	for name, o := range old.Operations {
		if base.Operations == nil {
			base.Operations = map[string]protocol.OperationProfile{}
		}
		bo := base.Operations[name]
		if o.Path != "" {
			bo.Path = o.Path
		}
		if o.ServiceCode != "" {
			bo.ServiceCode = o.ServiceCode
		}
		base.Operations[name] = bo
	}
	base = base.WithDefaults()
	base.Validate("platform.profile (with the deprecated settings)", &ps)
	return base, ps.Err()
}

// Dialect compiles the effective profile.
func (c Config) Dialect() (*protocol.Dialect, error) {
	p, err := c.EffectiveProfile()
	if err != nil {
		return nil, err
	}
	return protocol.Compile(p)
}

// joinProblems adds err to ps, problem by problem when it is a *config.Error (whose
// paths are kept), else as one problem at path, and returns the result.
func joinProblems(ps *config.Problems, path string, err error) error {
	if ce, ok := err.(*config.Error); ok {
		for _, p := range ce.Problems {
			ps.Addf(path+": "+p.Path, "%s", p.Reason)
		}
	} else {
		ps.Add(path, err)
	}
	return ps.Err()
}
