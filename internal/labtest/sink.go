package labtest

import (
	"io"
	"os"
	"sync"
)

// LogEnv names the file that collects what the tests' agents write where a production
// agent's output would go: their logs (through the production masking logger), their
// events, and the output of every child process and demo run a test captures
// (Output). `make test` sets it and, after the run, cmd/internal/leakcheck reads the
// file for secrets and clear personal data of the test identities. Unset, nothing is
// collected.
const LogEnv = "SSCAGENT_TEST_LOG"

var sink struct {
	once sync.Once
	mu   sync.Mutex // serialises writes from this process's goroutines
	f    *os.File
}

// LogSink returns the writer that appends to the file named by LogEnv, or io.Discard
// when LogEnv is unset or the file cannot be opened. Every test process appends with
// O_APPEND, each write a whole line or block, so processes running at once interleave
// lines, not bytes within them.
func LogSink() io.Writer {
	sink.once.Do(func() {
		if p := os.Getenv(LogEnv); p != "" {
			sink.f, _ = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		}
	})
	if sink.f == nil {
		return io.Discard
	}
	return sinkWriter{}
}

// Collecting reports whether LogEnv is set (and its file could be opened).
func Collecting() bool { return LogSink() != io.Discard }

type sinkWriter struct{}

func (sinkWriter) Write(p []byte) (int, error) {
	sink.mu.Lock()
	defer sink.mu.Unlock()
	return sink.f.Write(p)
}
