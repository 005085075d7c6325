//go:build unix

package main

import (
	"os"
	"syscall"
)

// The signals that take a virtual card out of its reader and put it back.
var removeSignal, insertSignal os.Signal = syscall.SIGUSR1, syscall.SIGUSR2
