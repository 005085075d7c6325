//go:build sscagent_badbuild_hang

package main

import "time"

// A deliberately broken build for the software-update tests (fleet_upgrade_test.go):
// with this tag the program never gets past its start, so it never reports healthy.
// Never released.
func init() {
	for {
		time.Sleep(time.Hour)
	}
}
