package main

import (
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sscagent/sscagent/card"
)

// gbk encodes s as the national interface's strings are: GBK, a character GBK lacks
// replaced by the encoding's substitute (the name on the card was GBK, so the agent's
// UTF-8 goes back byte for byte).
func gbk(s string) []byte {
	b, err := encoding.ReplaceUnsupported(simplifiedchinese.GBK.NewEncoder()).Bytes([]byte(s))
	if err != nil { // not reached: unsupported characters are replaced
		return []byte("?")
	}
	return b
}

// render writes o into out, a caller's buffer of len(out) bytes (the interface's output
// size), GBK and NUL-terminated, never past its end, and returns the code to answer. A
// result that does not fit is not cut: the call fails with -14 (an error text is cut at
// a character). An empty out gets nothing.
func render(o outcome, out []byte) card.Code {
	if len(out) == 0 {
		return card.CodeBadParameter
	}
	b := gbk(o.text)
	if len(b) >= len(out) && o.code == card.CodeOK {
		o = fail(card.CodeBadParameter, "输出 %d 字节，超过接口的 %d 字节", len(b), len(out)-1)
		b = gbk(o.text)
	}
	if len(b) >= len(out) {
		b = cut(o.text, len(out)-1)
	}
	n := copy(out, b)
	out[n] = 0
	return o.code
}

// cut returns the GBK encoding of the longest prefix of s (whole characters) that has
// at most n bytes.
func cut(s string, n int) []byte {
	var b []byte
	for _, r := range s {
		e := gbk(string(r))
		if len(b)+len(e) > n {
			break
		}
		b = append(b, e...)
	}
	return b
}

// guarded runs a call of the C interface, so that a panic in the library fails the
// call with -11 instead of ending the host application.
func guarded(out []byte, call func() outcome) (code card.Code) {
	defer func() {
		if p := recover(); p != nil {
			code = render(fail(card.CodeReaderConnect, "库内部错误 (%v)", p), out)
		}
	}()
	return render(call(), out)
}

// fromGBK decodes a GBK string of the caller (pKey); bytes that are not GBK become
// U+FFFD, which the agent refuses as malformed input.
func fromGBK(b []byte) string {
	s, err := simplifiedchinese.GBK.NewDecoder().Bytes(b)
	if err != nil { // not reached: the decoder replaces what it cannot decode
		return string(b)
	}
	return string(s)
}
