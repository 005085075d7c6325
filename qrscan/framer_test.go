package qrscan

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// collect feeds chunks to a framer and returns what it emitted, one string per event:
// the frame text, "<overlong>" or "<stale:text>". idleAfter lists chunk indexes after
// which Idle is called.
func collect(f *Framer, chunks []string, idleAfter ...int) []string {
	var got []string
	emit := func(b []byte, st FrameStatus) {
		switch st {
		case FrameOverlong:
			got = append(got, "<overlong>")
		case FrameStale:
			got = append(got, "<stale:"+string(b)+">")
		default:
			got = append(got, string(b))
		}
	}
	for i, c := range chunks {
		f.Feed([]byte(c), emit)
		for _, j := range idleAfter {
			if j == i {
				f.Idle(emit)
			}
		}
	}
	return got
}

func TestFramerTerminators(t *testing.T) {
	cases := []struct {
		term   Terminator
		suffix byte
		in     []string
		idle   []int
		want   []string
	}{
		{TermAny, 0, []string{"A\rB\nC\r\nD\n\n\r"}, nil, []string{"A", "B", "C", "D"}},
		{TermAny, 0, []string{"SPL", "IT\r", "\nNEXT\n"}, nil, []string{"SPLIT", "NEXT"}},
		{TermCR, 0, []string{"A\rB\nC\r"}, nil, []string{"A", "B\nC"}},
		{TermLF, 0, []string{"A\nB\rC\n"}, nil, []string{"A", "B\rC"}},
		{TermCRLF, 0, []string{"A\r\nB\nC\rD\r\n"}, nil, []string{"A", "B", "C\rD"}},
		{TermCRLF, 0, []string{"CR", "\r", "\n"}, nil, []string{"CR"}}, // CR and LF in separate reads
		{TermSuffix, 0x03, []string{"\x02ONE\x03\x02TW", "O\x03"}, nil, []string{"\x02ONE", "\x02TWO"}},
		{TermIdle, 0, []string{"ON", "E", "TWO"}, []int{1, 2}, []string{"ONE", "TWO"}},
		{TermIdle, 0, []string{"A\r\nB"}, []int{0}, []string{"A\r\nB"}},
		// In terminated modes a partial line followed by silence is stale noise.
		{TermAny, 0, []string{"noise", "CODE\n"}, []int{0}, []string{"<stale:noise>", "CODE"}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%q", c.term, c.in), func(t *testing.T) {
			got := collect(NewFramer(c.term, c.suffix, 64), c.in, c.idle...)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestFramerOverlongIsDroppedUntilTerminator(t *testing.T) {
	f := NewFramer(TermLF, 0, 16)
	long := strings.Repeat("x", 1<<20) // a 1 MB line
	got := collect(f, []string{"OK1\n", long[:100], long, "tail\nOK2\n"})
	want := []string{"OK1", "<overlong>", "OK2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if cap(f.buf) > 16 {
		t.Fatalf("buffer grew to %d bytes, limit 16", cap(f.buf))
	}
}

func TestFramerOverlongInIdleModeEndsAtIdle(t *testing.T) {
	f := NewFramer(TermIdle, 0, 8)
	got := collect(f, []string{"0123456789", "more", "SHORT"}, 1, 2)
	want := []string{"<overlong>", "SHORT"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestFramerExactlyMaxLine(t *testing.T) {
	f := NewFramer(TermLF, 0, 4)
	got := collect(f, []string{"abcd\nabcde\nab", "c\n"})
	want := []string{"abcd", "<overlong>", "abc"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// frames runs input through a framer in the given chunk sizes (cycled) and returns the
// emitted events in collect's notation.
func frames(term Terminator, maxLine int, input []byte, sizes []int) []string {
	f := NewFramer(term, ';', maxLine)
	var chunks []string
	for i := 0; len(input) > 0; i++ {
		n := 1
		if len(sizes) > 0 {
			n = max(1, sizes[i%len(sizes)])
		}
		n = min(n, len(input))
		chunks = append(chunks, string(input[:n]))
		input = input[n:]
	}
	return collect(f, chunks)
}

// FuzzFramer checks the framer's invariants on arbitrary input cut at arbitrary places:
// it never panics, never emits a frame longer than maxLine or containing its terminator,
// and emits the same frames however the input is split.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("CODE-1\r\nCODE-2\n"), []byte{1, 3}, uint8(0), uint8(16))
	f.Add([]byte("\x00\xff\xfe\r\n\r\r\n\n"), []byte{2}, uint8(3), uint8(4))
	f.Add([]byte(strings.Repeat("A", 300)+"\nB\n"), []byte{7, 100}, uint8(2), uint8(64))
	f.Add([]byte("x;y;;z"), []byte{1}, uint8(4), uint8(2))
	f.Fuzz(func(t *testing.T, input, sizes []byte, termSel, maxSel uint8) {
		terms := []Terminator{TermAny, TermCR, TermLF, TermCRLF, TermSuffix}
		term := terms[int(termSel)%len(terms)]
		maxLine := 1 + int(maxSel)
		var sz []int
		for _, s := range sizes {
			sz = append(sz, int(s))
		}
		whole := frames(term, maxLine, input, []int{len(input) + 1})
		split := frames(term, maxLine, input, sz)
		if !reflect.DeepEqual(whole, split) {
			t.Fatalf("split input framed differently:\nwhole %q\nsplit %q", whole, split)
		}
		for _, fr := range whole {
			if fr == "<overlong>" {
				continue
			}
			if len(fr) > maxLine {
				t.Fatalf("frame of %d bytes exceeds maxLine %d", len(fr), maxLine)
			}
			if fr == "" {
				t.Fatal("empty frame emitted")
			}
			var stop string
			switch term {
			case TermAny:
				stop = "\r\n"
			case TermCR:
				stop = "\r"
			case TermLF, TermCRLF:
				stop = "\n"
			case TermSuffix:
				stop = ";"
			}
			if strings.ContainsAny(fr, stop) {
				t.Fatalf("frame %q contains a terminator", fr)
			}
		}
		// Without overlong lines no byte is lost: the frames hold every byte except the
		// terminators and the unterminated tail (crlf also drops the CR before LF).
		if term != TermCRLF && !slices.Contains(whole, "<overlong>") {
			stops := map[Terminator]string{TermAny: "\r\n", TermCR: "\r", TermLF: "\n", TermSuffix: ";"}[term]
			tail := len(input) - 1 - bytes.LastIndexAny(input, stops)
			want := len(input) - tail
			for _, b := range input[:len(input)-tail] {
				if strings.IndexByte(stops, b) >= 0 {
					want--
				}
			}
			got := 0
			for _, fr := range whole {
				got += len(fr)
			}
			if got != want {
				t.Fatalf("frames hold %d bytes, want %d", got, want)
			}
		}
	})
}
