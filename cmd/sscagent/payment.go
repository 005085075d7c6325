package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/records"
)

const paymentUsage = `payment refund ORDER --amount YUAN --operator ID [--refund-no N] [--reason TEXT] [--wait D] [--token-file F] [--config FILE] [--json]`

func init() {
	prog.Register("payment", "refund a paid order through the running agent: "+paymentUsage, cmdPayment)
}

// cmdPayment is "sscagent payment refund": a person gives (part of) a paid order back to
// the holder. It asks the running agent over its local API (the agent owns the payment
// file and the platform session), waits for the outcome and prints the refund with its
// 8.4 operator prompt. Exit 0: refunded; 1: refused, failed or for a person to check;
// 2: the command line. With --refund-no the command can be run again safely after a lost
// answer: the same refund comes back, nothing is refunded twice.
func cmdPayment(args []string, out, errOut io.Writer) int {
	if _, rc := prog.Subcommand(args, paymentUsage, errOut, "refund"); rc >= 0 {
		return rc
	}
	rest := args[1:]
	order := ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		order, rest = rest[0], rest[1:]
	}
	fs := newFlags("payment refund", paymentUsage, errOut)
	path := fs.String("config", defaultConfigPath(), "configuration file (the local API's address and token)")
	amount := fs.String("amount", "", "yuan with two decimals, e.g. 5.00")
	operator := fs.String("operator", "", "the operator id who orders the refund (required)")
	refundNo := fs.String("refund-no", "", "the refund number (idempotency key); default: the agent makes one")
	reason := fs.String("reason", "", "why, at most 80 characters")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the outcome (at most 60s)")
	asJSON := fs.Bool("json", false, "print the refund as JSON")
	tokenFile := fs.String("token-file", "", "file holding a local API token with the operator scope (mode 0600); default: localapi.tokenFile")
	if rc := cli.ParseFlags(fs, rest); rc >= 0 {
		return rc
	}
	if order == "" && fs.NArg() == 1 {
		order = fs.Arg(0)
	} else if fs.NArg() > 0 {
		order = ""
	}
	fen, err := records.ParseAmount(*amount)
	switch {
	case order == "":
		fmt.Fprintln(errOut, "payment refund: one ORDER number is required\nUsage: sscagent "+paymentUsage)
		return cli.ExitUsage
	case err != nil || fen <= 0 || !strings.Contains(*amount, "."):
		fmt.Fprintln(errOut, "payment refund: --amount must be yuan with two decimals, e.g. 5.00")
		return cli.ExitUsage
	case *operator == "":
		fmt.Fprintln(errOut, "payment refund: --operator is required (10.3.4 c: who settled it is recorded)")
		return cli.ExitUsage
	case *wait < 0 || *wait > time.Minute:
		fmt.Fprintln(errOut, "payment refund: --wait must be between 0s and 60s")
		return cli.ExitUsage
	}
	cfg, err := agent.LoadConfig(*path)
	if err != nil {
		printConfigError(errOut, *path, err)
		return cli.ExitFail
	}
	tf := cfg.LocalAPI.TokenFile
	if *tokenFile != "" {
		tf = config.SecretFile(*tokenFile)
	}
	if tf == "" {
		fmt.Fprintln(errOut, "payment refund: --token-file F is required: a file holding a local API token with the operator scope (sscagent token new --scopes operator)")
		return cli.ExitUsage
	}
	tok, err := tf.Read()
	if err != nil {
		fmt.Fprintf(errOut, "payment refund: 无法读取本地接口令牌（%s）: %v\n", tf, err)
		return cli.ExitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	api := localClient{base: "http://" + cfg.LocalAPI.Listen, token: strings.TrimSpace(string(tok))}
	body := map[string]any{"amount": int64(fen), "operator": *operator, "refundNo": *refundNo, "reason": *reason}
	var ref refundOut
	if code, err := api.do(ctx, http.MethodPost, "/v1/payments/"+url.PathEscape(order)+"/refunds", body, &ref); err != nil {
		return printAPIError(errOut, code, err)
	}
	if !final(ref.State) && *wait > 0 {
		if code, err := api.do(ctx, http.MethodGet, "/v1/refunds/"+url.PathEscape(ref.RefundNo)+"?wait="+wait.String(), nil, &ref); err != nil {
			return printAPIError(errOut, code, err)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(ref)
	} else {
		fmt.Fprintf(out, "refund %s of order %s: %s %s (operator %s)\n%s [%s]\n", ref.RefundNo, ref.OrderNo,
			records.Amount(ref.Amount), ref.State, ref.Operator, ref.Prompts.Operator, ref.Prompts.Code)
		if ref.Detail != "" {
			fmt.Fprintln(out, ref.Detail)
		}
	}
	if ref.State == "SUCCESS" {
		return cli.ExitOK
	}
	return cli.ExitFail
}

func final(state string) bool {
	return state == "SUCCESS" || state == "FAILED" || state == "NEEDS_MANUAL"
}

// refundOut is the part of the local API's refund the command prints.
type refundOut struct {
	RefundNo string         `json:"refundNo"`
	OrderNo  string         `json:"orderNo"`
	Amount   int64          `json:"amount"`
	Operator string         `json:"operator"`
	State    string         `json:"state"`
	Detail   string         `json:"detail,omitempty"`
	Prompts  prompt.Prompts `json:"prompts"`
}

// localClient calls the running agent's local API.
type localClient struct{ base, token string }

// apiError is an error answer of the local API.
type apiError struct {
	Message string         `json:"message"`
	Prompts prompt.Prompts `json:"prompts"`
	Fields  []struct {
		Field, Reason string
	} `json:"fields"`
}

func (e *apiError) Error() string { return e.Message }

// do sends one request and decodes the answer into out; an error answer is an
// *apiError with its status.
func (c localClient) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		var eb struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error.Prompts.Code == "" {
			return resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
		}
		return resp.StatusCode, &eb.Error
	}
	return resp.StatusCode, json.Unmarshal(b, out)
}

// printAPIError prints an error answer as its 8.4 operator prompt with the code, then
// the details; a connection failure says the agent is not running.
func printAPIError(w io.Writer, status int, err error) int {
	var ae *apiError
	switch {
	case status == 0:
		fmt.Fprintf(w, "无法连接正在运行的代理（本地接口），请确认 sscagent 服务已启动: %v\n", err)
	case errors.As(err, &ae):
		fmt.Fprintf(w, "%s [%s]\n%s\n", ae.Prompts.Operator, ae.Prompts.Code, ae.Message)
		for _, f := range ae.Fields {
			fmt.Fprintf(w, "  %s: %s\n", f.Field, f.Reason)
		}
	default:
		fmt.Fprintln(w, err)
	}
	return cli.ExitFail
}
