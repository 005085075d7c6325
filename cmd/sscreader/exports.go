package main

// The C ABI's Go side: the functions national.go's C wrappers call, one per kind of
// national function. The wrappers give each call its output size.

import "C"

import (
	"os"
	"unsafe"

	"github.com/sscagent/sscagent/card"
)

// lib is the loaded library's state (the HSM session between Step 1 and Step 2),
// made when the library is loaded.
var lib = newLibrary(os.Getenv, selfPath())

//export sscrReadCardBas
func sscrReadCardBas(iType C.int, out *C.char, size C.int) C.long {
	return call(out, size, func() outcome { return lib.readBas(int(iType)) })
}

//export sscrHSMStep1
func sscrHSMStep1(iType C.int, out *C.char, size C.int) C.long {
	return call(out, size, func() outcome { return lib.hsmStep1(int(iType)) })
}

//export sscrHSMStep2
func sscrHSMStep2(pKey *C.char, out *C.char, size C.int) C.long {
	return call(out, size, func() outcome {
		k, ok := cString(pKey, maxPKey)
		if !ok {
			return fail(card.CodeBadParameter, "pKey 为空或超过 %d 字节", maxPKey)
		}
		return lib.hsmStep2(fromGBK(k))
	})
}

//export sscrUnsupported
func sscrUnsupported(out *C.char, size C.int) C.long {
	return call(out, size, unsupported)
}

// call runs f for a C caller whose output buffer is out, size bytes. Without a buffer
// the call fails with -14 and writes nothing.
func call(out *C.char, size C.int, f func() outcome) C.long {
	if out == nil || size <= 0 {
		return C.long(card.CodeBadParameter)
	}
	return C.long(guarded(unsafe.Slice((*byte)(unsafe.Pointer(out)), int(size)), f))
}

// cString copies a NUL-terminated C string of at most max bytes, looking no further
// than max+1 bytes; ok is false for NULL or a longer string.
func cString(p *C.char, max int) ([]byte, bool) {
	if p == nil {
		return nil, false
	}
	for n := 0; n <= max; n++ {
		if *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) == 0 {
			return C.GoBytes(unsafe.Pointer(p), C.int(n)), true
		}
	}
	return nil, false
}
