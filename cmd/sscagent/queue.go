package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/audit"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/queue"
	"github.com/sscagent/sscagent/records"
)

const queueUsage = `queue stats                 [--config FILE] [--state-dir DIR] [--json]
       sscagent queue list                  [--lane money|identity|telemetry] [--limit N] [--body] [--json]
       sscagent queue quarantine list       [--body] [--json]
       sscagent queue quarantine export     [-o FILE] [--clear --operator ID]
       sscagent queue quarantine retry      (--all | SEQ...)
  Every command also takes --config FILE and --state-dir DIR.`

func init() {
	prog.Register("queue", "inspect the record queue: queue stats|list|quarantine list|export|retry", cmdQueue)
}

// cmdQueue is "sscagent queue ...": the operator's view of the durable record queue in
// the state directory. Output is masked (spec 8.3.2) except an export with --clear,
// which goes only to a file of mode 0600. The agent holds the queue file while it runs;
// these commands then say so (the local API's GET /v1/queue shows the statistics).
func cmdQueue(args []string, out, errOut io.Writer) int {
	usage := func() int {
		fmt.Fprintln(errOut, "Usage: sscagent "+queueUsage)
		return cli.ExitUsage
	}
	if len(args) == 0 {
		return usage()
	}
	sub := args[0]
	if sub == "-h" || sub == "--help" || sub == "help" {
		fmt.Fprintln(out, "Usage: sscagent "+queueUsage)
		return cli.ExitOK
	}
	if sub == "quarantine" {
		if len(args) < 2 {
			return usage()
		}
		sub, args = "quarantine "+args[1], args[1:]
	}
	fs := newFlags("queue "+sub, queueUsage, errOut)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	stateDir := fs.String("state-dir", "", "state directory (default: agent.stateDir of the configuration)")
	asJSON := fs.Bool("json", false, "print JSON")
	var lane *string
	var limit *int
	var body, clear, all *bool
	var outFile, operator *string
	switch sub {
	case "stats":
	case "list":
		lane = fs.String("lane", "", "only this lane: money, identity or telemetry")
		limit = fs.Int("limit", 50, "show at most this many records, oldest first")
		body = fs.Bool("body", false, "show record bodies (masked; needs the queue key)")
	case "quarantine list":
		body = fs.Bool("body", false, "show record bodies (masked; needs the queue key)")
	case "quarantine export":
		outFile = fs.String("o", "", "write to this file (mode 0600) instead of standard output")
		clear = fs.Bool("clear", false, "export bodies unmasked, for re-entry at the platform (needs -o and --operator; audited)")
		operator = fs.String("operator", "", "with --clear: the id of the person taking the personal data (1-32 letters, digits, '-', '_'), written to the audit log")
	case "quarantine retry":
		all = fs.Bool("all", false, "re-queue every quarantined record")
	default:
		fmt.Fprintf(errOut, "sscagent queue: unknown subcommand %q\n", sub)
		return usage()
	}
	maxArgs := 0
	if sub == "quarantine retry" {
		maxArgs = -1 // sequence numbers
	}
	if rc := cli.ParseArgs(fs, args[1:], 0, maxArgs); rc >= 0 {
		return rc
	}
	var seqs []uint64
	if sub == "quarantine retry" {
		for _, a := range fs.Args() {
			n, err := strconv.ParseUint(a, 10, 64)
			if err != nil {
				fmt.Fprintf(errOut, "not a sequence number: %q\n", a)
				return cli.ExitUsage
			}
			seqs = append(seqs, n)
		}
		if *all == (len(seqs) > 0) {
			fmt.Fprintln(errOut, "give --all or the sequence numbers to re-queue (sscagent queue quarantine list)")
			return cli.ExitUsage
		}
	}
	var ln queue.Lane
	if lane != nil && *lane != "" {
		l, err := queue.ParseLane(*lane)
		if err != nil {
			fmt.Fprintln(errOut, err)
			return cli.ExitUsage
		}
		ln = l
	}
	if clear != nil && *clear && *outFile == "" {
		fmt.Fprintln(errOut, "--clear writes personal data: give -o FILE (it is created with mode 0600)")
		return cli.ExitUsage
	}
	if clear != nil && *clear && !reOperator.MatchString(*operator) {
		fmt.Fprintln(errOut, "--clear writes personal data: give --operator ID (1-32 letters, digits, '-' or '_'), the person who takes it; the export is audited")
		return cli.ExitUsage
	}

	needKey := (body != nil && *body) || sub == "quarantine export"
	q, dir, err := openQueueCLI(*cfgPath, *stateDir, sub == "quarantine retry", needKey)
	if err != nil {
		fmt.Fprintln(errOut, "sscagent queue:", err)
		return cli.ExitFail
	}
	defer q.Close()

	switch sub {
	case "stats":
		return queueStats(q, *asJSON, out, errOut)
	case "list":
		recs, err := q.List(ln, *limit, *body)
		if err != nil {
			fmt.Fprintln(errOut, "sscagent queue:", err)
			return cli.ExitFail
		}
		return printRecords(recs, nil, *body, *asJSON, out)
	case "quarantine list":
		qs, err := q.Quarantined(*body)
		if err != nil {
			fmt.Fprintln(errOut, "sscagent queue:", err)
			return cli.ExitFail
		}
		recs := make([]queue.Record, len(qs))
		for i, x := range qs {
			recs[i] = x.Record
		}
		return printRecords(recs, qs, *body, *asJSON, out)
	case "quarantine export":
		var au *audit.Log
		if *clear {
			au = audit.Open(dir)
		}
		return exportQuarantine(q, *outFile, au, *operator, out, errOut)
	default: // quarantine retry
		n, err := q.Release(context.Background(), seqs...)
		if err != nil {
			fmt.Fprintln(errOut, "sscagent queue:", err)
			return cli.ExitFail
		}
		fmt.Fprintf(out, "%d record(s) re-queued under their original ids\n", n)
		if n < len(seqs) {
			fmt.Fprintf(errOut, "%d sequence number(s) were not in quarantine\n", len(seqs)-n)
			return cli.ExitFail
		}
		return cli.ExitOK
	}
}

// openQueueCLI opens the state directory's queue: read-only, or writable for retry. It
// returns the state directory too.
func openQueueCLI(cfgPath, stateDir string, write, needKey bool) (*queue.Queue, string, error) {
	cfg, err := agent.LoadConfig(cfgPath)
	if err != nil && !(stateDir != "" && errors.Is(err, config.ErrNoConfig)) {
		return nil, "", err
	}
	if stateDir == "" {
		stateDir = cfg.Agent.StateDir
	}
	// A newer release's state is refused before anything is opened, as the agent does.
	if err := agent.CheckStateDir(stateDir); err != nil {
		return nil, "", err
	}
	path := filepath.Join(stateDir, queue.FileName)
	var key []byte
	if k, _, kerr := cfg.Queue.KeySource(stateDir).Load(false); kerr == nil {
		key = k
	} else if needKey {
		return nil, "", fmt.Errorf("record bodies need the queue key: %w", kerr)
	}
	o := cfg.Queue.Options()
	o.Key, o.Terminal, o.ReadOnly = key, cfg.Terminal.ID, !write
	o.LockTimeout = time.Second
	if _, err := os.Stat(path); err != nil {
		return nil, "", fmt.Errorf("no queue at %s: %w", path, err)
	}
	q, err := queue.Open(path, o)
	if queue.IsLocked(err) {
		return nil, "", fmt.Errorf("%s is in use by the running agent; stop it first, or see GET /v1/queue on the local API", path)
	}
	return q, stateDir, err
}

func queueStats(q *queue.Queue, asJSON bool, out, errOut io.Writer) int {
	st, err := q.Stats()
	if err != nil {
		fmt.Fprintln(errOut, "sscagent queue:", err)
		return cli.ExitFail
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
		return cli.ExitOK
	}
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "LANE\tDEPTH\tBYTES\tOLDEST")
	for _, l := range queue.Lanes {
		ls := st.Lanes[l]
		oldest := "-"
		if !ls.Oldest.IsZero() {
			oldest = fmt.Sprintf("%s (%s ago)", ls.Oldest.Format(time.DateTime), time.Duration(ls.OldestAgeSeconds*float64(time.Second)).Round(time.Second))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", l, ls.Depth, ls.Bytes, oldest)
	}
	fmt.Fprintf(tw, "quarantine\t%d\t%d\t\n", st.Quarantined, st.QuarantineBytes)
	_ = tw.Flush()
	full := "no"
	if st.Full {
		full = "YES: new business is refused"
	}
	fmt.Fprintf(out, "\nused %d of cap %d bytes (reserve %d); file %d bytes; full: %s\n",
		st.UsedBytes, st.CapBytes, st.ReserveBytes, st.FileBytes, full)
	fmt.Fprintf(out, "telemetry dropped: %d\n", st.TelemetryDropped)
	fmt.Fprintf(out, "idempotency keys: %d\n", st.IdempotencyKeys)
	for _, r := range st.Recoveries {
		fmt.Fprintf(out, "RECOVERED %s: corrupt file moved to %s (%d entries salvaged, %d buckets lost): %s\n",
			r.At.Format(time.DateTime), r.MovedTo, r.Salvaged, r.Lost, r.Cause)
	}
	return cli.ExitOK
}

// listed is one line of list output.
type listed struct {
	queue.Record
	Reason        string    `json:"reason,omitempty"`
	Quarantined   time.Time `json:"quarantined,omitzero"`
	Body          any       `json:"body,omitempty"`
	BodyTruncated bool      `json:"bodyTruncated,omitempty"`
}

func printRecords(recs []queue.Record, qs []queue.Quarantined, body, asJSON bool, out io.Writer) int {
	rows := make([]listed, len(recs))
	for i, r := range recs {
		rows[i] = listed{Record: r}
		if qs != nil {
			rows[i].Reason, rows[i].Quarantined = qs[i].Reason, qs[i].At
		}
		if body && r.Body != nil {
			rows[i].Body = maskedBody(r.Kind, r.Body)
		}
	}
	if asJSON {
		enc := json.NewEncoder(out)
		for _, r := range rows {
			_ = enc.Encode(r)
		}
		return cli.ExitOK
	}
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tID\tLANE\tKIND\tCREATED\tATTEMPTS\tLAST ERROR / REASON")
	for _, r := range rows {
		why := r.LastError
		if r.Reason != "" {
			why = r.Reason
		}
		if r.Damaged != "" {
			why = "DAMAGED: " + r.Damaged
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Seq, r.ID, r.Lane, r.Kind, r.Created.Format(time.DateTime), r.Attempts, why)
		if r.Body != nil {
			// A body line ends the table block; flush so each record reads as one block.
			_ = tw.Flush()
			b, _ := json.Marshal(r.Body)
			fmt.Fprintf(out, "  body: %s\n", b)
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "%d record(s)\n", len(rows))
	return cli.ExitOK
}

// maskedBody returns a record body with personal data masked: the fields Appendix C
// marks personal by their rule, every other string through mask.Text. A body that is not
// JSON is shown as its length and fingerprint only.
func maskedBody(kind string, body []byte) any {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return mask.Secret(string(body))
	}
	personal := map[string]mask.Kind{}
	for _, f := range records.Fields(records.Kind(kind)) {
		if f.Personal != 0 {
			personal[f.Name] = f.Personal
		}
	}
	return maskValue(v, "", personal)
}

// subjectOf returns the masked social security number of a record body, "" when it
// has none.
// reOperator is an operator id as the local API takes it.
var reOperator = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func subjectOf(kind string, body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	for _, f := range records.Fields(records.Kind(kind)) {
		if s, ok := m[f.Name].(string); ok && f.Personal == mask.KindIDNumber {
			return f.Personal.Apply(s)
		}
	}
	return ""
}

func maskValue(v any, key string, personal map[string]mask.Kind) any {
	switch x := v.(type) {
	case string:
		if k, ok := personal[key]; ok {
			return k.Apply(x)
		}
		return mask.Text(x)
	case map[string]any:
		for k, e := range x {
			x[k] = maskValue(e, k, personal)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = maskValue(e, key, personal)
		}
		return x
	}
	return v
}

// exportQuarantine writes one JSON object per quarantined record: metadata, reason and
// the body (masked, or in clear with --clear to a private file). A clear export (au not
// nil) is written to the audit log first, one entry per record with the operator; when
// the log cannot be written nothing is exported.
func exportQuarantine(q *queue.Queue, path string, au *audit.Log, operator string, out, errOut io.Writer) int {
	clear := au != nil
	qs, err := q.Quarantined(true)
	if err != nil {
		fmt.Fprintln(errOut, "sscagent queue:", err)
		return cli.ExitFail
	}
	if clear {
		for _, x := range qs {
			if _, err := au.Append(audit.Entry{Token: "cli", Operator: operator, Endpoint: "queue quarantine export --clear",
				Record: x.Record.ID, Subject: subjectOf(x.Kind, x.Body)}); err != nil {
				fmt.Fprintln(errOut, "sscagent queue: the audit log cannot be written; nothing exported:", err)
				return cli.ExitFail
			}
		}
	}
	w := out
	if path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			fmt.Fprintln(errOut, "sscagent queue:", err)
			return cli.ExitFail
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	for _, x := range qs {
		row := listed{Record: x.Record, Reason: x.Reason, Quarantined: x.At}
		switch {
		case x.Body == nil:
		case clear:
			row.Body = json.RawMessage(x.Body)
			if !json.Valid(x.Body) {
				row.Body = string(x.Body)
			}
		default:
			row.Body = maskedBody(x.Kind, x.Body)
		}
		if err := enc.Encode(row); err != nil {
			fmt.Fprintln(errOut, "sscagent queue:", err)
			return cli.ExitFail
		}
	}
	if path != "" {
		fmt.Fprintf(out, "%d quarantined record(s) written to %s\n", len(qs), path)
	}
	return cli.ExitOK
}
