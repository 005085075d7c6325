package agent_test

import (
	"os"
	"testing"

	"github.com/sscagent/sscagent/labtest"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childRole); role != "" {
		os.Exit(runChild(role))
	}
	code := m.Run()
	labtest.StopSharedPCSCD()
	os.Exit(code)
}
