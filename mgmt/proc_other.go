//go:build !unix && !windows

package mgmt

// processUsage is not available on this platform.
func processUsage() (cpuSeconds float64, rss uint64) { return 0, 0 }
