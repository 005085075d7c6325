package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/signing"
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

// keyPairPaths are DIR/STEM.key.pem and DIR/STEM.pub.pem.
func keyPairPaths(dir, stem string) (keyPath, pubPath string) {
	return filepath.Join(dir, stem+".key.pem"), filepath.Join(dir, stem+".pub.pem")
}

// writeSigningKey generates a signing key of alg and writes the pair at keyPairPaths
// (the private key 0600). It returns the key and its public PEM, or the exit code of
// the failure (messages on errOut, what naming the command).
func writeSigningKey(what, dir, stem string, alg signing.Algorithm, errOut io.Writer) (*signing.PrivateKey, []byte, int) {
	keyPath, pubPath := keyPairPaths(dir, stem)
	k, err := signing.Generate(alg)
	var keyPEM, pubPEM []byte
	if err == nil {
		keyPEM, err = k.MarshalPEM()
	}
	if err == nil {
		pubPEM, err = k.Public().MarshalPEM()
	}
	if err != nil {
		fmt.Fprintf(errOut, "sscagent %s: %v\n", what, err)
		return nil, nil, cli.ExitFail
	}
	if rc := writeKeyFiles(what, dir, []keyFile{{keyPath, keyPEM, 0o600}, {pubPath, pubPEM, 0o644}}, errOut); rc != cli.ExitOK {
		return nil, nil, rc
	}
	return k, pubPEM, cli.ExitOK
}
