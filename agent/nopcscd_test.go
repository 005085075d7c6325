//go:build !(cgo && linux)

package agent_test

func stopPCSCD() {}
