package upgrade

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/sscagent/sscagent/internal/atomicfile"
	"github.com/sscagent/sscagent/internal/release"
)

// PrevPath is where the old build is kept after a swap.
func PrevPath(exe string) string { return exe + ".prev" }

// stagedPath is where a new build waits, beside the executable so that the swap is a
// rename within one directory (atomic).
func stagedPath(exe string) string {
	return filepath.Join(filepath.Dir(exe), "."+filepath.Base(exe)+".staged")
}

// swap puts staged in exe's place and keeps the old build as prev. On Unix the old
// build gets its second name first (a hard link, or a copy where links are not
// possible) and the new one is renamed over exe: exe always names a complete build.
// Windows cannot replace a running executable, but can rename it: the old build is
// renamed to prev first, and back should the second rename fail.
func swap(exe, staged, prev string) error {
	dir := filepath.Dir(exe)
	if runtime.GOOS == "windows" {
		_ = os.Remove(prev)
		if err := os.Rename(exe, prev); err != nil {
			return fmt.Errorf("swap: keep the old build: %w", err)
		}
		if err := os.Rename(staged, exe); err != nil {
			if back := os.Rename(prev, exe); back != nil {
				return fmt.Errorf("swap: %w; and the old build could not be put back: %v", err, back)
			}
			return fmt.Errorf("swap: %w", err)
		}
		return nil
	}
	tmp := prev + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Link(exe, tmp); err != nil {
		if err := copyFile(exe, tmp); err != nil {
			return fmt.Errorf("swap: keep the old build: %w", err)
		}
	}
	if err := os.Rename(tmp, prev); err != nil {
		return fmt.Errorf("swap: keep the old build: %w", err)
	}
	if err := os.Rename(staged, exe); err != nil {
		return fmt.Errorf("swap: %w", err)
	}
	return atomicfile.SyncDir(dir)
}

// restore puts prev back in exe's place (a rollback after the swap).
func restore(exe, prev string) error {
	if runtime.GOOS == "windows" {
		_ = os.Remove(exe + ".failed")
		if err := os.Rename(exe, exe+".failed"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rollback: %w", err)
		}
	}
	if err := os.Rename(prev, exe); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(exe))
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// matches reports whether the file at path is the artifact m describes.
func matches(path string, m release.Manifest) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	d := release.NewDigest()
	if _, err := io.Copy(d, f); err != nil {
		return false
	}
	return d.Check(m) == nil
}
