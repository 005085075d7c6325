//go:build unix

package helper

import (
	"fmt"
	"os"
	"syscall"
)

// RootOwned checks that path is a file owned by root that no one else may write: the
// helper takes its release keys only from files a compromised agent cannot change.
func RootOwned(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Uid != 0 {
		return fmt.Errorf("%s is not owned by root", path)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by its group or others (%s)", path, st.Mode().Perm())
	}
	return nil
}
