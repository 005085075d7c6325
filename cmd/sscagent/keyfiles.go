package main

import (
	"fmt"
	"io"
	"os"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/platform/protocol"
)

// keyFile is one file of a new key set.
type keyFile struct {
	path string
	data []byte
	perm os.FileMode
}

// writeKeyFiles writes a new key set into dir (created 0700 if missing). It refuses
// before writing anything when one of the files exists: overwriting a key loses it for
// good, and a half-written set is worse than none. what names the command in messages.
// It returns the exit code (cli.ExitOK when every file was written, synced).
func writeKeyFiles(what, dir string, files []keyFile, errOut io.Writer) int {
	for _, f := range files {
		if _, err := os.Lstat(f.path); err == nil {
			fmt.Fprintf(errOut, "sscagent %s: %s exists; refusing to overwrite a key (move it away first)\n", what, f.path)
			return cli.ExitFail
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fmt.Fprintf(errOut, "sscagent %s: %v\n", what, err)
		return cli.ExitFail
	}
	for _, f := range files {
		if err := protocol.WriteNewFile(f.path, f.data, f.perm); err != nil {
			fmt.Fprintf(errOut, "sscagent %s: %v\n", what, err)
			return cli.ExitFail
		}
	}
	return cli.ExitOK
}
