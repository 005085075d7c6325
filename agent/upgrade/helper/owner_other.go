//go:build !unix

package helper

import "errors"

// RootOwned is Unix only: package upgrades are for the Linux packages.
func RootOwned(string) error { return errors.New("package upgrades need a Unix host") }
