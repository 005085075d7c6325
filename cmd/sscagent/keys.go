package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/credential"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/protocol"
)

const keysUsage = "keys gen --out DIR [--name NAME] [--sm4] | keys show --config FILE | " + keysSealUsage

func init() {
	prog.Register("keys", "channel keys: keys gen --out DIR (new SM2 pair) | keys show --config FILE | keys seal --name NAME --in FILE (a credential of the service manager)", cmdKeys)
}

func cmdKeys(args []string, out, errOut io.Writer) int {
	sub, rc := prog.Subcommand(args, keysUsage, errOut, "gen", "show", "seal")
	if rc >= 0 {
		return rc
	}
	switch sub {
	case "show":
		return keysShow(args[1:], out, errOut)
	case "seal":
		return keysSeal(args[1:], out, errOut)
	}
	fs := newFlags("keys gen", "keys gen --out DIR [--name NAME] [--sm4]", errOut)
	dir := fs.String("out", "", "directory for the key files (created 0700 if missing)")
	name := fs.String("name", "channel", "file name stem: NAME.key.pem and NAME.pub.pem")
	sm4 := fs.Bool("sm4", false, "also write a random SM4 key, sm4.key (when the platform lets the channel choose it)")
	if rc := cli.ParseFlags(fs, args[1:]); rc >= 0 {
		return rc
	}
	if *dir == "" || *name == "" || filepath.Base(*name) != *name {
		fmt.Fprintln(errOut, "--out DIR is required and --name must be a plain file name")
		fs.Usage()
		return cli.ExitUsage
	}
	keyPath := filepath.Join(*dir, *name+".key.pem")
	pubPath := filepath.Join(*dir, *name+".pub.pem")
	sm4Path := filepath.Join(*dir, "sm4.key")
	k, err := protocol.GenerateKey()
	var keyPEM, pubPEM []byte
	if err == nil {
		keyPEM, err = k.MarshalPEM()
	}
	if err == nil {
		pubPEM, err = k.Public().MarshalPEM()
	}
	files := []keyFile{{keyPath, keyPEM, 0o600}, {pubPath, pubPEM, 0o644}}
	if err == nil && *sm4 {
		var key []byte
		if key, err = protocol.NewSM4Key(); err == nil {
			files = append(files, keyFile{sm4Path, protocol.FormatSM4Key(key), 0o600})
		}
	}
	if err != nil {
		fmt.Fprintf(errOut, "sscagent keys gen: %v\n", err)
		return cli.ExitFail
	}
	if rc := writeKeyFiles("keys gen", *dir, files, errOut); rc != cli.ExitOK {
		return rc
	}
	fmt.Fprintf(errOut, "wrote %s (0600, keep it on this terminal) and %s\n", keyPath, pubPath)
	if *sm4 {
		fmt.Fprintf(errOut, "wrote %s (0600)\n", sm4Path)
	}
	fmt.Fprintln(errOut, "give the public key below to the platform operator; set platform.privateKey to the private key file")
	fmt.Fprintf(out, "%sfingerprint: %s\npoint: %x\n", pubPEM, k.Public().Fingerprint(), k.Public().Uncompressed())
	return cli.ExitOK
}

// keysShow prints the fingerprints of the configured keys and whether they are the
// published test keys, without printing any secret.
func keysShow(args []string, out, errOut io.Writer) int {
	fs := newFlags("keys show", "keys show --config FILE", errOut)
	path := fs.String("config", defaultConfigPath(), "configuration file")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	cfg, err := agent.LoadConfig(*path)
	if err != nil {
		printConfigError(errOut, *path, err)
		return cli.ExitFail
	}
	k, err := platform.LoadKeys(cfg.Platform)
	if err != nil {
		fmt.Fprintf(errOut, "sscagent keys show: %v\n", err)
		return cli.ExitFail
	}
	test := func(b bool) string {
		if b {
			return "  (PUBLISHED TEST KEY: refused unless terminal.test)"
		}
		return ""
	}
	no := cfg.Platform.ChannelNo
	fmt.Fprintf(out, "channel %s key      %s%s\n", no, k.Channel.Public().Fingerprint(), test(protocol.IsTestKey(k.Channel.Public(), no)))
	fmt.Fprintf(out, "platform public key      %s%s\n", k.Platform.Fingerprint(), test(protocol.IsTestKey(k.Platform, no)))
	fmt.Fprintf(out, "sm4 key                  %d bytes%s\n", len(k.SM4), test(protocol.IsTestSM4Key(k.SM4, no)))
	return cli.ExitOK
}

const keysSealUsage = "keys seal --name NAME (--in FILE | --in - | --random) [--out DIR] [--with-key KEY]"

// keysSeal seals a secret as a credential of the service manager: systemd-creds
// encrypt on Linux (the unit's LoadCredentialEncrypted= line hands it to the agent),
// DPAPI in machine scope on Windows. It prints the line that hands it over.
func keysSeal(args []string, out, errOut io.Writer) int {
	fs := newFlags("keys seal", keysSealUsage, errOut)
	name := fs.String("name", "", "credential name: the configuration refers to it as credential:NAME")
	in := fs.String("in", "", "the plain secret's file (a key file, sm4.key, a token), or - for standard input")
	random := fs.Bool("random", false, "seal 32 random bytes instead (a new queue.keySecret); the secret never exists in clear on disk")
	dir := fs.String("out", credential.DefaultDir(), "directory for NAME"+credential.Ext+" (created 0700 if missing)")
	withKey := fs.String("with-key", credential.WithKeys[0], "what the credential is bound to: "+strings.Join(credential.WithKeys, ", ")+
		" (Linux: systemd-creds --with-key; auto is host+tpm2 where a TPM2 is present, else host)")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	if err := credential.ValidName(*name); err != nil || (*in == "") == !*random {
		if err != nil {
			fmt.Fprintf(errOut, "--name: %v\n", err)
		} else {
			fmt.Fprintln(errOut, "give exactly one of --in FILE and --random")
		}
		fs.Usage()
		return cli.ExitUsage
	}
	path := filepath.Join(*dir, *name+credential.Ext)
	if _, err := os.Lstat(path); err == nil {
		fmt.Fprintf(errOut, "sscagent keys seal: %s exists; refusing to overwrite a credential (move it away first)\n", path)
		return cli.ExitFail
	}
	var plain []byte
	var err error
	switch {
	case *random:
		plain = make([]byte, 32)
		_, err = rand.Read(plain)
	case *in == "-":
		plain, err = io.ReadAll(io.LimitReader(os.Stdin, config.MaxSecretSize+1))
	default:
		plain, err = config.SecretFile(*in).Read()
	}
	if err == nil && len(plain) == 0 {
		err = errors.New("the secret is empty")
	}
	if err == nil && len(plain) > config.MaxSecretSize {
		err = fmt.Errorf("the secret is larger than %d bytes", config.MaxSecretSize)
	}
	if err != nil {
		fmt.Fprintf(errOut, "sscagent keys seal: %v\n", err)
		return cli.ExitFail
	}
	sealed, err := credential.Seal(context.Background(), *name, plain, *withKey)
	if err == nil {
		err = os.MkdirAll(*dir, 0o700)
	}
	if err == nil {
		err = protocol.WriteNewFile(path, sealed, 0o600)
	}
	if err == nil {
		err = credential.Restrict(path)
	}
	if err != nil {
		fmt.Fprintf(errOut, "sscagent keys seal: %v\n", err)
		return cli.ExitFail
	}
	ref := credential.Prefix + *name
	fmt.Fprintf(errOut, "wrote %s (sealed for this machine: it opens nowhere else)\n", path)
	if runtime.GOOS == "windows" {
		fmt.Fprintf(errOut, "the agent opens it itself: name it %s in the configuration\n", ref)
		fmt.Fprintln(out, ref)
	} else {
		fmt.Fprintf(errOut, "add the line below to the unit (systemctl edit sscagent, under [Service]) and name it %s in the configuration\n", ref)
		fmt.Fprintln(out, credential.UnitLine(*name, path))
	}
	if *in != "" && *in != "-" {
		del := "shred -u " + *in
		if runtime.GOOS == "windows" {
			del = "del " + *in
		}
		fmt.Fprintf(errOut, "then delete the plain file once the agent runs with the credential: %s\n", del)
	}
	return cli.ExitOK
}
