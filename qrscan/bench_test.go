package qrscan

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/qrscan/serial"
)

// lines returns n distinct CRLF-terminated codes of about 64 bytes.
func lines(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "ESSC-%010d-ABCDEFGHIJKLMNOPQRSTUVWXYZ-abcdefghijklmnopqrstu\r\n", i)
	}
	return b.Bytes()
}

// BenchmarkFramer measures framing alone: bytes in, frames out. "any-storm" is hostile
// input for the any terminator: one-byte lines separated by CR only.
func BenchmarkFramer(b *testing.B) {
	for _, name := range []string{"any", "crlf", "any-storm"} {
		b.Run(name, func(b *testing.B) {
			term, in := Terminator(name), lines(1000)
			if name == "any-storm" {
				term, in = TermAny, bytes.Repeat([]byte("A\r"), 32<<10)
			}
			f := NewFramer(term, 0, DefaultMaxLine)
			n := 0
			emit := func([]byte, FrameStatus) { n++ }
			b.SetBytes(int64(len(in)))
			b.ResetTimer()
			for range b.N {
				for p := in; len(p) > 0; p = p[min(len(p), readSize):] {
					f.Feed(p[:min(len(p), readSize)], emit)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkPipeline measures everything after the read: framing, checks, de-duplication,
// rate limit, classification and delivery on the channel. "accepted" delivers every code
// (rate limit off); "flood" is the hostile case where the rate limit drops nearly all.
func BenchmarkPipeline(b *testing.B) {
	for _, mode := range []string{"accepted", "flood"} {
		b.Run(mode, func(b *testing.B) {
			out := make(chan Scan, 1024)
			done := make(chan struct{})
			go func() { // drains the channel like the agent's pipeline
				for range out {
				}
				close(done)
			}()
			s, err := New(Config{Name: "bench", Kind: KindStdin}, Options{Out: out})
			if err != nil {
				b.Fatal(err)
			}
			if mode == "accepted" {
				s.limit = newLimiter(0, 1)
			}
			ss := &session{s: s, fr: NewFramer(TermAny, 0, DefaultMaxLine)}
			in := lines(1000)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for p := in; len(p) > 0; p = p[min(len(p), readSize):] {
					ss.fr.Feed(p[:min(len(p), readSize)], ss.frame)
				}
			}
			b.StopTimer()
			close(out)
			<-done
			st := s.Stats()
			b.ReportMetric(float64(st.Frames)/b.Elapsed().Seconds(), "frames/s")
			b.ReportMetric(float64(st.Scans)/b.Elapsed().Seconds(), "scans/s")
		})
	}
}

// BenchmarkPtyFlood measures frames per second end to end through a real socat pty pair
// and the serial layer (the rate limit drops the codes; the framing still sees them all).
func BenchmarkPtyFlood(b *testing.B) {
	p := labtest.NewPair(b)
	out := make(chan Scan, 64)
	counted := make(chan struct{}, 1)
	const perOp = 10000
	var want uint64
	s, err := New(Config{Name: "pty", Kind: KindSerial, Serial: serial.Config{Port: p.Agent}},
		Options{Out: out, OnReject: func(Reject) {}, OnStatus: func(st Status) {
			if st.Connected {
				counted <- struct{}{}
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	<-counted
	in := lines(perOp)
	f := p.Open()
	defer f.Close()
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for range b.N {
		want += perOp
		if _, err := f.Write(in); err != nil {
			b.Fatal(err)
		}
		for s.Stats().Frames < want { // no per-frame signal at this rate; poll the counter
			runtime.Gosched()
		}
	}
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkScannerMemory reports the memory one connected, idle scanner holds (heap and
// goroutine stacks), after it swallowed a 1 MB line and a flood.
func BenchmarkScannerMemory(b *testing.B) {
	const n = 100
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(context.Background())
	var writers []*os.File
	var scanners []*Scanner
	connected := make(chan struct{}, n)
	for i := range n {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		writers = append(writers, w)
		out := make(chan Scan, 16)
		s, err := New(Config{Name: fmt.Sprintf("s%d", i), Kind: KindStdin}, Options{Out: out,
			Opener: OpenerFunc(func(context.Context) (io.ReadCloser, error) { return r, nil }),
			OnStatus: func(st Status) {
				if st.Connected {
					connected <- struct{}{}
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		scanners = append(scanners, s)
		go func() { _ = s.Run(ctx) }()
		<-connected
		w.Write(bytes.Repeat([]byte("M"), 1<<20))
		w.Write([]byte("\n"))
		w.Write(lines(2000))
	}
	for _, s := range scanners { // wait until each has framed everything written
		for s.Stats().Frames < 2001 {
			time.Sleep(time.Millisecond)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapAlloc-before.HeapAlloc) / n
	stack := float64(after.StackInuse-before.StackInuse) / n
	cancel()
	for _, w := range writers {
		w.Close()
	}
	for range b.N { // the measurement above is the result; b.N loops are not meaningful
	}
	b.ReportMetric(heap, "heapB/scanner")
	b.ReportMetric(stack, "stackB/scanner")
}
