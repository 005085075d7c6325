//go:build unix

package mgmt

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// processUsage returns the CPU time used by the process (user + system) and its
// resident set size (0 when unknown).
func processUsage() (cpuSeconds float64, rss uint64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpuSeconds = float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	}
	// Linux: the second field of /proc/self/statm is the resident set in pages.
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := bytes.Fields(b); len(f) > 1 {
			if pages, err := strconv.ParseUint(string(f[1]), 10, 64); err == nil {
				rss = pages * uint64(os.Getpagesize())
			}
		}
	}
	return cpuSeconds, rss
}
