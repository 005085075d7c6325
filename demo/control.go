package demo

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/drivers/simreader"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/records"
)

// Controls are what the console commands act on. Nil fields make their commands answer
// that they are unavailable.
type Controls struct {
	Console *Console
	Sandbox *platformsim.Sandbox
	// Hub returns the virtual readers (driver sim), nil when there are none.
	Hub func() *simreader.Hub
	// API returns the local API's host:port, "" until it listens.
	API func() string
	// Token is the local API's bearer token.
	Token string
	// Scan hands a code to the gate's scanner (the agent's standard input).
	Scan func(code string) error
	// PayScan hands a code to the counter's scanner, where an order waits for it. Nil:
	// there is no counter scanner, and :pay sends the next code with its request (the
	// application scanned it itself).
	PayScan func(code string) error
	// Parts reports the agent's parts.
	Parts func() []agent.PartState
	// Quit stops the demo.
	Quit func()
	// HTTP calls the local API. Nil: a client with a 15s timeout.
	HTTP *http.Client

	mu      sync.Mutex  // guards the fields below
	waiting string      // the order waiting for a code at the counter
	held    *heldPay    // without a counter scanner: the payment the next code pays
	medCard string      // the card profile in MedicalReader
	readIDs chan string // the latest read handed over at the medical counter (:face)
	loginID string      // the login :login started, waiting for :approve or :refuse
	// loginCode is that login's code: a ticket, kept for the sandbox's e-card app only.
	loginCode string
}

// heldPay is a payment :pay prepared when there is no counter scanner.
type heldPay struct {
	amount  records.Amount
	subject string
}

// Help is the console's command list.
const Help = `Type a line to scan it as a QR code, or a command:
  :insert 张三|李四|赵六   put a virtual card in the reader (pinyin works too: :insert lisi)
  :remove                 take the card out
  :qr 王五|张三|李四       the sandbox issues a fresh e-card code for that person; it is scanned
  :pay 12.50 [subject]    create a payment on the local API; the next scanned code pays it
  :medical 张三 36.50[,SELF[,FUND]] PIN
                          insert that card at the medical counter and settle on it with the
                          PIN (POST /v1/medical/settle; the test cards' PIN is 123456)
  :refund ORDER 2.00      refund part of a paid order (POST /v1/payments/ORDER/refunds,
                          operator ` + Operator + `)
  :face 张三 [李四]         read the card at the medical counter, then face verification
                          (POST /v1/face) with a photograph of the holder (or of 李四: fail)
  :login [05|04]          start a QR login (POST /v1/login); the code is the kiosk's QR
  :approve 张三 | :refuse  the holder's e-card app answers the login; GET /v1/login/{id}?wait
  :fault SPEC | clear     make the sandbox misbehave, e.g. :fault backflow:http:count=3
                          (OP:KIND[:key=value], kinds latency http msgCode dropBefore dropAfter
                          delayAfter malformed badSignature wrongRequestId staleResponse)
  :ledger                 what the sandbox platform accepted (records, orders, balances)
  :queue                  the agent's record queue (local API GET /v1/queue)
  :status                 the agent's parts and status (local API GET /v1/status)
  :help                   this list;  :quit  stop (or Ctrl-C)
A line starting with "::" is scanned without its first ':'.
`

// Handle runs one line typed on the console. It never fails: problems are printed.
func (c *Controls) Handle(ctx context.Context, line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	if !strings.HasPrefix(line, ":") || strings.HasPrefix(line, "::") {
		code := strings.TrimPrefix(line, ":")
		c.scan(ctx, code, fmt.Sprintf("a code of %d characters from the console", len(code)))
		return
	}
	fields := strings.Fields(line[1:])
	if len(fields) == 0 {
		c.Console.Text(Plain, Help)
		return
	}
	cmd, args := strings.ToLower(fields[0]), fields[1:]
	switch cmd {
	case "help", "h", "?":
		c.Console.Text(Plain, Help)
	case "insert":
		c.insert(args)
	case "remove":
		c.remove()
	case "qr":
		c.qr(ctx, args)
	case "pay":
		c.pay(ctx, args)
	case "medical":
		c.medical(ctx, args)
	case "refund":
		c.refund(ctx, args)
	case "face":
		c.face(ctx, args)
	case "login":
		c.login(ctx, args)
	case "approve":
		c.approve(ctx, args, false)
	case "refuse":
		c.approve(ctx, args, true)
	case "fault", "faults":
		c.fault(args)
	case "ledger":
		c.ledger()
	case "queue":
		c.get(ctx, "/v1/queue")
	case "status":
		c.status(ctx)
	case "quit", "exit", "q":
		if c.Quit != nil {
			c.Quit()
		}
	default:
		c.Console.Line("demo", Warn, "unknown command :%s (:help lists them)", cmd)
	}
}
