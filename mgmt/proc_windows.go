//go:build windows

package mgmt

import "golang.org/x/sys/windows"

// processUsage returns the CPU time used by the process (user + kernel); the resident
// set is not read on Windows (0: the caller uses the Go runtime's figure).
func processUsage() (cpuSeconds float64, rss uint64) {
	var c, e, k, u windows.Filetime
	if windows.GetProcessTimes(windows.CurrentProcess(), &c, &e, &k, &u) == nil {
		kernel := uint64(k.HighDateTime)<<32 | uint64(k.LowDateTime)
		user := uint64(u.HighDateTime)<<32 | uint64(u.LowDateTime)
		ticks := kernel + user
		cpuSeconds = float64(ticks) / 1e7 // 100 ns units
	}
	return cpuSeconds, 0
}
