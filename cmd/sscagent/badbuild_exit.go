//go:build sscagent_badbuild_exit

package main

import "os"

// A deliberately broken build for the software-update tests (fleet_upgrade_test.go):
// with this tag the program exits at once, before anything runs. Never released.
func init() { os.Exit(70) }
