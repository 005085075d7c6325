package labtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ProcStat returns a process's resident set size (bytes) and the CPU time it has used
// (user + system, seconds) from /proc/PID/stat; zeros when it cannot be read.
func ProcStat(pid int) (rss uint64, cpuSeconds float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 22 {
		return 0, 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	pages, _ := strconv.ParseUint(f[21], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return pages * uint64(os.Getpagesize()), (utime + stime) / hz
}

// SelfUsage returns this process's resident set size (bytes) and its CPU time
// (getrusage, microsecond resolution).
func SelfUsage() (rss uint64, cpuSeconds float64) {
	rss, _ = ProcStat(os.Getpid())
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpuSeconds = float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	}
	return rss, cpuSeconds
}

// RaiseOpenFiles raises this process's open-file limit (RLIMIT_NOFILE), which the
// services and children it starts inherit, to at least n: the soft limit up to the hard
// one, and the hard one too when the process may (root). It returns the soft limit now
// in force and an error when that is below n.
func RaiseOpenFiles(n uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= n {
		return lim.Cur, nil
	}
	want := lim
	want.Cur = n
	if want.Max < n {
		want.Max = n
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not allowed above the hard limit: take what it allows.
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
		return lim.Cur, fmt.Errorf("open-file limit %d, need %d (ulimit -Hn; raising it needs root)", lim.Cur, n)
	}
	return n, nil
}
