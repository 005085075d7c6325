// Package main is sscagent's national reader interface library (读写终端接口,
// docs/reader-library.md): built with -buildmode=c-shared into libsscreader.so or
// SSCardDriver.dll, it exports iReadCardBas, iReadCardBas_HSM_Step1/Step2 and the rest of
// the national function list with their C signatures (sscreader.h), so business software
// written against a vendor DLL reads cards through the running agent unchanged. Each call
// is one request to the agent's local API (POST /v1/card/read, /v1/card/hsm/step1,
// step2): the agent keeps exclusive use of the reader, the PSAM and the masked event log.
//
// The Go side (this file's siblings without cgo) turns an answer into the national code
// and the GBK output; the cgo side (exports.go, national.go) is the C ABI.
package main

// main is never run: a c-shared library needs one.
func main() {}
