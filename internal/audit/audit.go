// Package audit is the tamper-evident log of disclosures of clear personal data: who
// (a local API token's name, or an operator at the CLI) received whose data (masked
// subject, record id) through which endpoint, and when. Each entry is one JSON line
// that carries the SHA-256 of the line before it and of itself, so that a line altered,
// removed, inserted or moved breaks the chain; a head file remembers the last entry, so
// that lines cut off the end are seen too. Every append is fsync'd before the data is
// handed out, and the writer locks the file, so the agent and the CLI can append to
// the same log.
//
// The log lives in a directory (the agent's state directory): the current file
// audit.log and, once it passes MaxSize, rotated files audit-<first seq>.log, the chain
// running on across them. docs/local-api.md describes the format for verifiers written
// elsewhere.
package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// File names in the log's directory.
const (
	CurrentFile = "audit.log"
	HeadFile    = "audit.head"
	rotatedGlob = "audit-*.log"
)

// MaxSize is the size past which the current file is rotated before the next append.
const MaxSize = 8 << 20

// Genesis is the prev of the first entry.
var Genesis = strings.Repeat("0", 64)

// Entry is one disclosure.
type Entry struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Token is the name of the local API token, or "cli" for the command line.
	Token string `json:"token"`
	// Operator is the person's id when one is given (CLI exports).
	Operator string `json:"operator,omitempty"`
	// Endpoint is the route ("GET /v1/reads/{id}") or the command.
	Endpoint string `json:"endpoint"`
	// Record is the id of what was disclosed (read, login, queue record).
	Record string `json:"record,omitempty"`
	// Subject is whose data it was, masked (spec 8.3.2), never in clear.
	Subject string `json:"subject,omitempty"`
	Prev    string `json:"prev"`
	Hash    string `json:"hash"`
}

// Log appends entries to the log in a directory.
type Log struct {
	dir     string
	now     func() time.Time
	maxSize int64
	mu      sync.Mutex // serialises appends of this process; the file lock serialises processes
}

// Open returns the log in dir. Nothing is touched until the first Append, which
// creates dir (0700) when missing.
func Open(dir string) *Log {
	return &Log{dir: dir, now: time.Now, maxSize: MaxSize}
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Append chains e after the last entry and writes it durably. Seq, Time (when zero),
// Prev and Hash are set here. The returned error means nothing was recorded: the
// caller must not disclose.
func (l *Log) Append(e Entry) (Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = l.now().UTC()
	}
	// A retry follows a rotation, by this process or another one.
	for range 4 {
		out, again, err := l.append(e)
		if !again {
			return out, err
		}
	}
	return e, errors.New("audit: the log kept being rotated under this writer")
}

// append is one attempt of Append with the file locked; again asks for another after
// a rotation.
func (l *Log) append(e Entry) (_ Entry, again bool, _ error) {
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return e, false, fmt.Errorf("audit: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(l.dir, CurrentFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return e, false, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return e, false, fmt.Errorf("audit: lock: %w", err)
	}
	defer unlockFile(f)
	if st, err := f.Stat(); err != nil {
		return e, false, fmt.Errorf("audit: %w", err)
	} else if cur, err := os.Stat(f.Name()); err != nil || !os.SameFile(st, cur) {
		return e, true, nil // rotated between open and lock
	}
	h, err := readHead(l.dir)
	if err != nil {
		return e, false, err
	}
	last, size, err := tail(f, h)
	if err != nil {
		return e, false, err
	}
	if size >= l.maxSize {
		return e, true, l.rotate(f, last)
	}
	e.Seq, e.Prev = last.Seq+1, last.Hash
	if last.Seq == 0 {
		e.Prev = Genesis
	}
	line, err := seal(&e)
	if err != nil {
		return e, false, err
	}
	if _, err := f.WriteAt(line, size); err != nil {
		return e, false, fmt.Errorf("audit: %w", err)
	}
	if err := f.Sync(); err != nil {
		return e, false, fmt.Errorf("audit: %w", err)
	}
	return e, false, writeHead(l.dir, headRec{Seq: e.Seq, Hash: e.Hash})
}

// seal computes e's hash and returns its line. The hash is the SHA-256 (hex) of the
// line's bytes without its last member `,"hash":"…"`: the JSON object up to and with
// "prev", closed by '}'.
func seal(e *Entry) ([]byte, error) {
	e.Hash = ""
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	body, ok := bytes.CutSuffix(b, []byte(`,"hash":""}`))
	if !ok {
		return nil, errors.New("audit: unexpected encoding")
	}
	e.Hash = hashOf(body)
	return append(append(body, `,"hash":"`+e.Hash+`"}`...), '\n'), nil
}

func hashOf(body []byte) string {
	sum := sha256.Sum256(append(body[:len(body):len(body)], '}'))
	return hex.EncodeToString(sum[:])
}

// tail returns the last complete entry of the current file (zero Seq and the previous
// file's chain when the file is empty) and where the next line goes. A torn last line
// that the head does not acknowledge (a crash during the write) is overwritten; any
// other damage is left for Verify to report and the chain goes on from the head.
func tail(f *os.File, h headRec) (Entry, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return Entry{}, 0, fmt.Errorf("audit: %w", err)
	}
	size := st.Size()
	const window = 64 << 10
	off := max(size-window, 0)
	buf := make([]byte, size-off)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return Entry{}, 0, fmt.Errorf("audit: %w", err)
	}
	end := size
	if len(buf) > 0 && buf[len(buf)-1] != '\n' {
		// A torn line: cut it when the head did not count it.
		i := bytes.LastIndexByte(buf, '\n')
		cut := off + int64(i+1)
		var prev Entry
		if i >= 0 {
			_ = json.Unmarshal(buf[bytes.LastIndexByte(buf[:i], '\n')+1:i], &prev)
		}
		if prev.Seq == h.Seq || (i < 0 && h.Seq == 0) {
			end, buf = cut, buf[:i+1]
		} else {
			end = size + 1 // leave it; start the next line on a fresh one
			if _, err := f.WriteAt([]byte{'\n'}, size); err != nil {
				return Entry{}, 0, fmt.Errorf("audit: %w", err)
			}
		}
	}
	var last Entry
	lines := bytes.Split(bytes.TrimRight(buf, "\n"), []byte{'\n'})
	for i := len(lines) - 1; i >= 0; i-- {
		if err := json.Unmarshal(lines[i], &last); err == nil && last.Seq > 0 {
			break
		}
		last = Entry{}
	}
	if h.Seq > last.Seq {
		// Lines were cut from the end (or the file was rotated and this one is new):
		// continue from the head so that the chain stays checkable.
		last = Entry{Seq: h.Seq, Hash: h.Hash}
	}
	return last, end, nil
}

// rotate renames the current file to audit-<first seq>.log.
func (l *Log) rotate(f *os.File, last Entry) error {
	first := Entry{}
	r := bufio.NewReader(io.NewSectionReader(f, 0, 1<<20))
	line, _ := r.ReadBytes('\n')
	_ = json.Unmarshal(line, &first)
	if first.Seq == 0 {
		first.Seq = last.Seq
	}
	to := filepath.Join(l.dir, fmt.Sprintf("audit-%020d.log", first.Seq))
	if err := os.Rename(f.Name(), to); err != nil {
		return fmt.Errorf("audit: rotate: %w", err)
	}
	return syncDir(l.dir)
}

// headRec is the last entry written, kept apart from the log.
type headRec struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

func readHead(dir string) (headRec, error) {
	var h headRec
	b, err := os.ReadFile(filepath.Join(dir, HeadFile))
	if errors.Is(err, os.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("audit: %w", err)
	}
	if err := json.Unmarshal(bytes.TrimSpace(b), &h); err != nil {
		return h, fmt.Errorf("audit: %s is damaged: %w", HeadFile, err)
	}
	return h, nil
}

// writeHead overwrites the head in place (one small write, fsync'd).
func writeHead(dir string, h headRec) error {
	b, _ := json.Marshal(h)
	b = append(b, '\n')
	f, err := os.OpenFile(filepath.Join(dir, HeadFile), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := f.Truncate(int64(len(b))); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return f.Sync()
}

// Files returns the log's files in chain order: the rotated ones by first seq, then
// the current file.
func Files(dir string) ([]string, error) {
	rot, err := filepath.Glob(filepath.Join(dir, rotatedGlob))
	if err != nil {
		return nil, err
	}
	slices.Sort(rot)
	if _, err := os.Stat(filepath.Join(dir, CurrentFile)); err == nil {
		rot = append(rot, filepath.Join(dir, CurrentFile))
	}
	return rot, nil
}

// Problem is the first break in the chain: the file, its line number (1-based) and
// what is wrong.
type Problem struct {
	File   string
	Line   int
	Reason string
}

func (p *Problem) Error() string {
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason)
}

// Report is the outcome of a verification.
type Report struct {
	Files   int
	Entries int
	First   uint64 // seq of the first entry checked
	Last    Entry  // the last good entry
}

// VerifyDir checks the whole log in dir, across rotated files, and against the head.
// The error is a *Problem for a broken chain.
func VerifyDir(dir string) (Report, error) {
	files, err := Files(dir)
	if err != nil {
		return Report{}, err
	}
	if len(files) == 0 {
		return Report{}, fmt.Errorf("audit: no log in %s", dir)
	}
	v := verifier{fromStart: true}
	for _, f := range files {
		if err := v.file(f); err != nil {
			return v.rep, err
		}
	}
	h, err := readHead(dir)
	if err != nil {
		return v.rep, err
	}
	if h.Seq > v.rep.Last.Seq {
		return v.rep, &Problem{File: files[len(files)-1], Line: v.line + 1,
			Reason: fmt.Sprintf("truncated: the head records entry %d, the log ends at %d (entries %d-%d removed)",
				h.Seq, v.rep.Last.Seq, v.rep.Last.Seq+1, h.Seq)}
	}
	if h.Seq == v.rep.Last.Seq && h.Hash != v.rep.Last.Hash {
		return v.rep, &Problem{File: files[len(files)-1], Line: v.line,
			Reason: fmt.Sprintf("entry %d differs from the one the head records", h.Seq)}
	}
	return v.rep, nil
}

// VerifyFile checks one file by itself: its first entry's prev is taken on trust when
// its seq is not 1 (a rotated file whose predecessor is not at hand).
func VerifyFile(path string) (Report, error) {
	v := verifier{}
	return v.rep, v.file(path)
}

type verifier struct {
	rep  Report
	line int
	// fromStart: the first entry must be entry 1 (the whole log is being checked).
	fromStart bool
}

func (v *verifier) file(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	return v.read(path, f)
}

// read checks the entries of one file read from in.
func (v *verifier) read(path string, in io.Reader) error {
	v.rep.Files++
	v.line = 0
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("audit: %w", err)
		}
		v.line++
		bad := func(format string, args ...any) error {
			return &Problem{File: path, Line: v.line, Reason: fmt.Sprintf(format, args...)}
		}
		if !bytes.HasSuffix(line, []byte{'\n'}) {
			return bad("incomplete last line (cut off)")
		}
		line = line[:len(line)-1]
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return bad("not an audit entry: %v", err)
		}
		body, h, ok := splitHash(line)
		if !ok || hashOf(body) != h || e.Hash != h {
			return bad("altered: entry %d does not match its hash", e.Seq)
		}
		last := v.rep.Last
		switch {
		case last.Seq == 0 && v.rep.Entries == 0:
			if v.fromStart && e.Seq != 1 {
				return bad("entries 1-%d missing before entry %d (removed)", e.Seq-1, e.Seq)
			}
			if e.Seq == 1 && e.Prev != Genesis {
				return bad("entry 1 does not start the chain")
			}
			v.rep.First = e.Seq
		case e.Seq != last.Seq+1:
			if e.Seq > last.Seq+1 {
				return bad("entries %d-%d missing before entry %d (removed)", last.Seq+1, e.Seq-1, e.Seq)
			}
			return bad("entry %d after entry %d (reordered or repeated)", e.Seq, last.Seq)
		case e.Prev != last.Hash:
			return bad("entry %d does not chain to entry %d (removed, inserted or replaced)", e.Seq, last.Seq)
		}
		v.rep.Entries++
		v.rep.Last = e
	}
}

// splitHash cuts a line into the hashed body and the hash it states.
func splitHash(line []byte) (body []byte, hash string, ok bool) {
	i := bytes.LastIndex(line, []byte(`,"hash":"`))
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return nil, "", false
	}
	h := string(line[i+len(`,"hash":"`) : len(line)-2])
	if len(h) != 64 {
		return nil, "", false
	}
	if _, err := strconv.ParseUint(h[:16], 16, 64); err != nil {
		return nil, "", false
	}
	return line[:i], h, true
}
