package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/signing"
)

const fleetKeysUsage = "fleet keys gen --out DIR [--alg sm2|ed25519] [--name NAME]"

// fleetKeys writes a manager signing key pair: the private key for the manager
// (--signing-key), the public key to pin on terminals (mgmt.managerKeys).
func fleetKeys(args []string, out, errOut io.Writer) int {
	if _, rc := prog.Subcommand(args, fleetKeysUsage, errOut, "gen"); rc >= 0 {
		return rc
	}
	fs := newFlags("fleet keys gen", fleetKeysUsage, errOut)
	dir := fs.String("out", "", "directory for the key files (created 0700 if missing)")
	alg := fs.String("alg", string(signing.SM2), "signature algorithm: sm2 (SM2 with SM3) or ed25519")
	name := fs.String("name", "manager", "file name stem: NAME.key.pem and NAME.pub.pem")
	if rc := cli.ParseArgs(fs, args[1:], 0, 0); rc >= 0 {
		return rc
	}
	a, err := signing.ParseAlgorithm(*alg)
	if err != nil {
		fmt.Fprintf(errOut, "--alg: %v\n", err)
		return cli.ExitUsage
	}
	if *dir == "" || *name == "" || filepath.Base(*name) != *name {
		fmt.Fprintln(errOut, "--out DIR is required and --name must be a plain file name")
		fs.Usage()
		return cli.ExitUsage
	}
	keyPath, pubPath := keyPairPaths(*dir, *name)
	k, pubPEM, rc := writeSigningKey("fleet keys gen", *dir, *name, a, errOut)
	if rc != cli.ExitOK {
		return rc
	}
	fmt.Fprintf(errOut, "wrote %s (0600, keep it with the manager: --signing-key) and %s\n", keyPath, pubPath)
	fmt.Fprintf(errOut, "pin the public key on each terminal: copy it there and list it in mgmt.managerKeys (docs/mgmt-protocol.md §10.1)\n")
	fmt.Fprintf(out, "%skeyId: %s\nalg: %s\n", pubPEM, k.Public().ID(), k.Algorithm())
	return cli.ExitOK
}
