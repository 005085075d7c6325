//go:build windows

package agent

import (
	"os"
	"path/filepath"
)

func defaultStateDir() string {
	if pd := os.Getenv("ProgramData"); pd != "" {
		return filepath.Join(pd, "sscagent")
	}
	return `C:\ProgramData\sscagent`
}
