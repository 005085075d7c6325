package agent

import (
	"errors"
	"path/filepath"
	"reflect"
	"slices"

	"github.com/sscagent/sscagent/internal/config"
)

// LoadConfigOverlay is LoadConfig with a remote configuration document (terminal
// management, package mgmt/rollout) decoded over the file before validation: mappings
// merge field by field, lists and scalars replace. Relative paths in either resolve
// against the file's directory. Every problem of the file, of the overlay (unknown keys
// with the overlay's line numbers, wrong types) and of the merged configuration is
// reported together. An empty overlay is LoadConfig.
func LoadConfigOverlay(path string, overlay []byte) (Config, error) {
	c := DefaultConfig()
	abs, err := filepath.Abs(path)
	if err != nil {
		return c, err
	}
	var all config.Problems
	collect := func(err error) bool { // reports whether decoding can go on
		var ce *config.Error
		if err == nil {
			return true
		}
		if !errors.As(err, &ce) || ce.Syntax() {
			return false
		}
		for _, p := range ce.Problems {
			all.Addf(p.Path, "%s", p.Reason)
		}
		return true
	}
	if err := config.LoadFile(abs, &c); !collect(err) {
		return c, err // nothing sensible was decoded
	}
	if len(overlay) > 0 {
		file := c
		file.Mgmt.ManagerKeys = slices.Clone(c.Mgmt.ManagerKeys)
		file.Upgrade.ReleaseKeys = slices.Clone(c.Upgrade.ReleaseKeys)
		if err := config.Decode(overlay, &c); !collect(err) {
			return c, err
		}
		// The remote screen refuses these paths by name; this catches any other way of
		// setting them (YAML anchors, merge keys), on the decoded values.
		if c.Version != file.Version {
			all.Addf("version", "cannot be changed remotely; change it in the file on the terminal")
		}
		if c.Terminal.ID != file.Terminal.ID {
			all.Addf("terminal.id", "cannot be changed remotely; change it in the file on the terminal")
		}
		if c.Agent.StateDir != file.Agent.StateDir {
			all.Addf("agent.stateDir", "cannot be changed remotely; change it in the file on the terminal")
		}
		if !slices.Equal(c.Mgmt.ManagerKeys, file.Mgmt.ManagerKeys) {
			all.Addf("mgmt.managerKeys", "cannot be changed remotely: the pinned manager keys decide which documents are trusted; change them in the file on the terminal")
		}
		if !reflect.DeepEqual(c.Upgrade, file.Upgrade) {
			all.Addf("upgrade", "cannot be changed remotely: the pinned release keys decide which builds run; change it in the file on the terminal")
			c.Upgrade = file.Upgrade
		}
	}
	c.resolvePaths(filepath.Dir(abs))
	c = c.withDefaults()
	collect(c.Validate())
	return c, all.Err()
}
