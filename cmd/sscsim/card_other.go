//go:build !unix

package main

import "os"

// No user signals here: the virtual card is controlled on standard input only.
var removeSignal, insertSignal os.Signal
