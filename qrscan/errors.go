package qrscan

import "errors"

// ErrEnded is returned by Run when a finite source (standard input) reached its end; the
// scanner is not reopened. Devices never end: they disconnect and are reopened.
var ErrEnded = errors.New("qrscan: input ended")

// ErrNoOut means Options.Out was nil.
var ErrNoOut = errors.New("qrscan: Options.Out is required")

// ErrRunning means Run was called while the scanner was already running.
var ErrRunning = errors.New("qrscan: scanner is already running")

var errBadSuffix = errors.New("qrscan: suffix byte must be two hex digits")
