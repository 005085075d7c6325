//go:build !windows

package main

/*
#cgo linux LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>

// sscr_self_path writes the path of the file this code was loaded from into buf.
static int sscr_self_path(char *buf, int n) {
	Dl_info info;
	if (!dladdr((void *)&sscr_self_path, &info) || info.dli_fname == NULL) return 0;
	size_t k = strlen(info.dli_fname);
	if (k == 0 || k >= (size_t)n) return 0;
	memcpy(buf, info.dli_fname, k);
	return (int)k;
}
*/
import "C"

import "unsafe"

// selfPath returns the library file's path (where the token file may be), "" when the
// loader does not say.
func selfPath() string {
	buf := make([]byte, 4096)
	n := C.sscr_self_path((*C.char)(unsafe.Pointer(&buf[0])), C.int(len(buf)))
	return string(buf[:n])
}
