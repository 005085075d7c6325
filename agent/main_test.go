package agent_test

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childRole); role != "" {
		os.Exit(runChild(role))
	}
	code := m.Run()
	stopPCSCD()
	os.Exit(code)
}
