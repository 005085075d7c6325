package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/mask"
)

const loginApproveUsage = `Usage: sscsim platform login-approve [--sandbox ADDR] [--id IDNUMBER] [--refuse] CODE

Plays the holder's phone in a QR login (7.1.4): the e-card app scanned the login code
CODE (the "code" POST /v1/login answered, as the kiosk shows it) and the holder approves
it as IDNUMBER, or declines it with --refuse. It calls the running sandbox's control
endpoint POST /_sim/login/approve.

Flags:`

// defaultLoginHolder is 张三 of the built-in registry.
const defaultLoginHolder = "350102199003077898"

// runLoginApprove is "sscsim platform login-approve".
func runLoginApprove(ctx context.Context, args []string, out, errOut io.Writer) int {
	fs := cli.NewFlags("sscsim platform login-approve", loginApproveUsage, errOut)
	addr := fs.String("sandbox", "127.0.0.1:8443", "the sandbox's host:port (sscsim platform --listen)")
	id := fs.String("id", defaultLoginHolder, "the holder who approves (a registered ID number)")
	refuse := fs.Bool("refuse", false, "decline the login instead")
	tokenFile := fs.String("control-token", "", "file holding the sandbox's /_sim bearer token (when not on loopback)")
	if rc := cli.ParseArgs(fs, args, 1, 1); rc >= 0 {
		return rc
	}
	body, _ := json.Marshal(map[string]any{"code": fs.Arg(0), "idNumber": *id, "refuse": *refuse})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+*addr+"/_sim/login/approve", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(errOut, "sscsim platform login-approve: %v\n", err)
		return cli.ExitUsage
	}
	req.Header.Set("Content-Type", "application/json")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil || strings.TrimSpace(string(b)) == "" {
			fmt.Fprintf(errOut, "sscsim platform login-approve: --control-token: unreadable or empty: %v\n", err)
			return 1
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(b)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(errOut, "sscsim platform login-approve: the sandbox at %s: %v\n", *addr, err)
		return 1
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(errOut, "sscsim platform login-approve: %s: %s\n", resp.Status, strings.TrimSpace(string(msg)))
		return 1
	}
	var r struct {
		LoginID string `json:"loginId"`
	}
	_ = json.Unmarshal(msg, &r)
	if *refuse {
		fmt.Fprintf(out, "login %s declined\n", r.LoginID)
	} else {
		fmt.Fprintf(out, "login %s approved as %s\n", r.LoginID, mask.IDNumber(*id))
	}
	return cli.ExitOK
}
