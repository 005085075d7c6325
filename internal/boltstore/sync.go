package boltstore

import (
	"os"
	"path/filepath"
)

// syncDir makes a rename in path's directory durable. Errors are ignored: not every
// platform can sync a directory (Windows cannot), and the rename itself succeeded.
func syncDir(path string) {
	f, err := os.Open(filepath.Dir(path))
	if err != nil {
		return
	}
	_ = f.Sync()
	_ = f.Close()
}
