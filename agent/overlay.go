package agent

import (
	"errors"
	"path/filepath"
	"reflect"

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
		file := c.Upgrade
		if err := config.Decode(overlay, &c); !collect(err) {
			return c, err
		}
		if !reflect.DeepEqual(file, c.Upgrade) {
			// The release keys decide what software runs: a manager key must not replace them.
			all.Addf("upgrade", "set in the configuration file only, never by terminal management")
			c.Upgrade = file
		}
	}
	c.resolvePaths(filepath.Dir(abs))
	c = c.withDefaults()
	collect(c.Validate())
	return c, all.Err()
}
