package main

/*
#include <windows.h>

// sscr_self_path writes the path of the DLL this code is in into buf (UTF-16).
static int sscr_self_path(wchar_t *buf, int n) {
	HMODULE m = NULL;
	if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
			(LPCWSTR)(void *)&sscr_self_path, &m)) return 0;
	DWORD k = GetModuleFileNameW(m, buf, (DWORD)n);
	return (k == 0 || k >= (DWORD)n) ? 0 : (int)k;
}
*/
import "C"

import (
	"unicode/utf16"
	"unsafe"
)

// selfPath returns the DLL's path (where the token file may be), "" when Windows does
// not say.
func selfPath() string {
	buf := make([]uint16, 32768)
	n := C.sscr_self_path((*C.wchar_t)(unsafe.Pointer(&buf[0])), C.int(len(buf)))
	return string(utf16.Decode(buf[:n]))
}
