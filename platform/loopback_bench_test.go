package platform_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
)

// BenchmarkLoopback compares a full call (client and sandbox: encrypt, sign, send,
// verify, decrypt, run, encrypt, sign, answer, verify, decrypt) with a bare HTTP round
// trip of the same request body to the same sandbox server, on loopback, over HTTP and
// HTTPS with keep-alive. The ratio call/bare is the cost of the protocol on both sides.
func BenchmarkLoopback(b *testing.B) {
	for _, https := range []bool{false, true} {
		scheme := map[bool]string{false: "http", true: "https"}[https]
		l := newLab(b, https)
		ctx := context.Background()
		if _, err := l.client.CardAuth(ctx, zhangsanCard); err != nil {
			b.Fatal(err)
		}
		body := l.last().Request
		hc := &http.Client{Transport: &http.Transport{}}
		if https {
			hc.Transport = &http.Transport{TLSClientConfig: tlsTrusting(b, l.cfg.CAFile)}
		}
		// A path the sandbox answers from its router alone (404): the bare round trip.
		bareURL := l.sb.URL(https) + "/bare"
		b.Run(scheme+"/bare", func(b *testing.B) {
			for b.Loop() {
				resp, err := hc.Post(bareURL, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
		b.Run(scheme+"/call", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.client.CardAuth(ctx, zhangsanCard); err != nil {
					b.Fatal(err)
				}
			}
		})
		hc.CloseIdleConnections()
	}
}
