/*
 * readertest: loads the reader library as business software does (dlopen, then the
 * national names with the types of sscreader.h), makes one kind of call and checks the
 * return code and the output byte for byte. Expected texts are given in UTF-8 and
 * converted to GBK here with the C library's iconv, independently of the library's own
 * encoder. The output buffer has guard bytes after the interface's size: a write past it
 * fails the check.
 *
 *   readertest LIB read ITYPE CODE EXPECT
 *   readertest LIB hsm ITYPE CODE1 EXPECT1 CODE2 EXPECT2   (prints "step1 <out>",
 *                                                            reads pKey from stdin)
 *   readertest LIB step1 ITYPE CODE EXPECT                  (Step 1 only)
 *   readertest LIB step2 PKEY CODE EXPECT
 *   readertest LIB unsupported
 *   readertest LIB args
 *
 * EXPECT is "=TEXT" (the whole output) or "^TEXT" (its beginning). Exit 0 when every
 * check passed; each failure is printed.
 */
#include <dlfcn.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sscreader.h"

#define GUARD 64
#define GUARD_BYTE 0xA5

static void *lib;
static int failures;

static void *sym(const char *name) {
	void *p = dlsym(lib, name);
	if (p == NULL) {
		printf("FAIL: %s is not exported: %s\n", name, dlerror());
		exit(1);
	}
	return p;
}

/* gbk converts UTF-8 text to GBK into a new buffer. */
static char *gbk(const char *utf8) {
	iconv_t cd = iconv_open("GBK", "UTF-8");
	if (cd == (iconv_t)-1) {
		perror("iconv_open GBK");
		exit(2);
	}
	size_t inlen = strlen(utf8), outlen = inlen * 2 + 1;
	char *out = calloc(1, outlen), *in = (char *)utf8, *o = out;
	if (iconv(cd, &in, &inlen, &o, &outlen) == (size_t)-1) {
		perror("iconv");
		exit(2);
	}
	iconv_close(cd);
	return out;
}

/* buffer returns an output buffer of size bytes followed by guard bytes. */
static char *buffer(size_t size) {
	char *b = malloc(size + GUARD);
	memset(b, GUARD_BYTE, size + GUARD);
	return b;
}

static void hex(const char *label, const char *s, size_t n) {
	printf("  %s (%zu bytes):", label, n);
	for (size_t i = 0; i < n; i++) printf(" %02x", (unsigned char)s[i]);
	printf("\n");
}

/* check compares a call's code and output with the expectation. */
static void check(const char *what, long got, long want, const char *out, size_t size, const char *expect) {
	int ok = 1;
	for (size_t i = size; i < size + GUARD; i++) {
		if ((unsigned char)out[i] != GUARD_BYTE) {
			printf("FAIL: %s wrote past the %zu bytes of pOutInfo (byte %zu)\n", what, size, i);
			failures++;
			return;
		}
	}
	const char *nul = memchr(out, 0, size);
	if (nul == NULL) {
		printf("FAIL: %s left pOutInfo without a NUL in its %zu bytes\n", what, size);
		failures++;
		return;
	}
	size_t n = (size_t)(nul - out);
	char *want_text = gbk(expect + 1);
	size_t wn = strlen(want_text);
	if (got != want) ok = 0;
	if (expect[0] == '=' && (n != wn || memcmp(out, want_text, wn) != 0)) ok = 0;
	if (expect[0] == '^' && (n < wn || memcmp(out, want_text, wn) != 0)) ok = 0;
	if (ok) {
		printf("ok: %s = %ld\n", what, got);
	} else {
		printf("FAIL: %s = %ld, want %ld\n", what, got, want);
		hex("got ", out, n);
		hex(expect[0] == '=' ? "want" : "want prefix", want_text, wn);
		failures++;
	}
	free(want_text);
}

typedef __typeof__(iReadCardBas) *read_fn;
typedef __typeof__(iReadCardBas_HSM_Step2) *step2_fn;

static void read_case(int iType, long want, const char *expect) {
	read_fn f = (read_fn)sym("iReadCardBas");
	char *out = buffer(SSCR_OUT_SIZE);
	long code = f(iType, out);
	check("iReadCardBas", code, want, out, SSCR_OUT_SIZE, expect);
	free(out);
}

static void step2_case(const char *pKey, long want, const char *expect) {
	step2_fn f = (step2_fn)sym("iReadCardBas_HSM_Step2");
	char *out = buffer(SSCR_OUT_SIZE);
	long code = f((char *)pKey, out);
	check("iReadCardBas_HSM_Step2", code, want, out, SSCR_OUT_SIZE, expect);
	free(out);
}

static void step1_case(int iType, long want, const char *expect) {
	read_fn f = (read_fn)sym("iReadCardBas_HSM_Step1");
	char *out = buffer(SSCR_OUT_SIZE);
	long code = f(iType, out);
	check("iReadCardBas_HSM_Step1", code, want, out, SSCR_OUT_SIZE, expect);
	free(out);
}

static void hsm_case(int iType, long want1, const char *expect1, long want2, const char *expect2) {
	read_fn step1 = (read_fn)sym("iReadCardBas_HSM_Step1");
	char *out = buffer(SSCR_OUT_SIZE);
	long code = step1(iType, out);
	check("iReadCardBas_HSM_Step1", code, want1, out, SSCR_OUT_SIZE, expect1);
	printf("step1 %s\n", code == 0 ? out : "");
	fflush(stdout);
	free(out);
	char pKey[4096];
	if (fgets(pKey, sizeof pKey, stdin) == NULL) {
		printf("FAIL: no pKey on stdin\n");
		exit(1);
	}
	pKey[strcspn(pKey, "\r\n")] = 0;
	step2_case(pKey, want2, expect2);
}

/* Thunks calling each function the library does not carry out with its own type from
 * sscreader.h and empty strings for its inputs. */
static char e1[] = "", e2[] = "", e3[] = "";
#define THUNK(name, ...) \
	static long call_##name(void *p, char *out) { return ((__typeof__(name) *)p)(__VA_ARGS__, out); }
THUNK(iReadCard, 1, 1, e1, e2)
THUNK(iWriteCard, 1, e1, e2, e3)
THUNK(iVerifyPIN, 1)
THUNK(iChangePIN, 1)
THUNK(iReloadPIN, 1, e1)
THUNK(iUnblockPIN, 1, e1)
THUNK(iDoDebit, 1, e1, e2)
THUNK(iReadDebitRecord, 1)
THUNK(iReadCard_HSM_Step1, 1, e1, e2)
THUNK(iReadCard_HSM_Step2, e1)
THUNK(iWriteCard_HSM_Step1, 1, e1, e2)
THUNK(iWriteCard_HSM_Step2, e1, e2)
THUNK(iReloadPIN_HSM_Step1, 1, e1)
THUNK(iReloadPIN_HSM_Step2, e1)
THUNK(iReloadPIN_HSM_Step3, e1)
THUNK(iUnblockPIN_HSM_Step1, 1, e1)
THUNK(iUnblockPIN_HSM_Step2, e1)
THUNK(iUnblockPIN_HSM_Step3, e1)
THUNK(iDoDebit_HSM_Step1, 1, e1, e2)
THUNK(iDoDebit_HSM_Step2, e1)

/* unsupported calls every function the library does not carry out: -13 and its text,
 * within the function's output size. */
static void unsupported_case(void) {
#define FN(name, size) {#name, call_##name, size}
	struct {
		const char *name;
		long (*call)(void *, char *);
		size_t size;
	} fns[] = {
		FN(iReadCard, SSCR_READCARD_OUT_SIZE),
		FN(iWriteCard, SSCR_OUT_SIZE),
		FN(iVerifyPIN, SSCR_OUT_SIZE),
		FN(iChangePIN, SSCR_OUT_SIZE),
		FN(iReloadPIN, SSCR_OUT_SIZE),
		FN(iUnblockPIN, SSCR_OUT_SIZE),
		FN(iDoDebit, SSCR_OUT_SIZE),
		FN(iReadDebitRecord, SSCR_OUT_SIZE),
		FN(iReadCard_HSM_Step1, SSCR_READCARD_OUT_SIZE),
		FN(iReadCard_HSM_Step2, SSCR_READCARD_OUT_SIZE),
		FN(iWriteCard_HSM_Step1, SSCR_OUT_SIZE),
		FN(iWriteCard_HSM_Step2, SSCR_OUT_SIZE),
		FN(iReloadPIN_HSM_Step1, SSCR_OUT_SIZE),
		FN(iReloadPIN_HSM_Step2, SSCR_OUT_SIZE),
		FN(iReloadPIN_HSM_Step3, SSCR_OUT_SIZE),
		FN(iUnblockPIN_HSM_Step1, SSCR_OUT_SIZE),
		FN(iUnblockPIN_HSM_Step2, SSCR_OUT_SIZE),
		FN(iUnblockPIN_HSM_Step3, SSCR_OUT_SIZE),
		FN(iDoDebit_HSM_Step1, SSCR_OUT_SIZE),
		FN(iDoDebit_HSM_Step2, SSCR_OUT_SIZE),
	};
	for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
		char *out = buffer(fns[i].size);
		long code = fns[i].call(sym(fns[i].name), out);
		check(fns[i].name, code, -13, out, fns[i].size, "=不支持该命令");
		free(out);
	}
}

/* args: bad arguments are -14, and a NULL output is never written. */
static void args_case(void) {
	read_fn f = (read_fn)sym("iReadCardBas");
	long code = f(1, NULL);
	if (code != -14) {
		printf("FAIL: iReadCardBas(1, NULL) = %ld, want -14\n", code);
		failures++;
	} else {
		printf("ok: iReadCardBas(1, NULL) = -14\n");
	}
	read_case(0, -14, "^命令参数错");
	read_case(5, -14, "^命令参数错");
	step2_case(NULL, -14, "^命令参数错");
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: readertest LIB read|hsm|step1|step2|unsupported|args ...\n");
		return 2;
	}
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		printf("FAIL: dlopen %s: %s\n", argv[1], dlerror());
		return 1;
	}
	const char *c = argv[2];
	if (!strcmp(c, "read") && argc == 6) read_case(atoi(argv[3]), atol(argv[4]), argv[5]);
	else if (!strcmp(c, "hsm") && argc == 8)
		hsm_case(atoi(argv[3]), atol(argv[4]), argv[5], atol(argv[6]), argv[7]);
	else if (!strcmp(c, "step1") && argc == 6) step1_case(atoi(argv[3]), atol(argv[4]), argv[5]);
	else if (!strcmp(c, "step2") && argc == 6) step2_case(argv[3], atol(argv[4]), argv[5]);
	else if (!strcmp(c, "unsupported") && argc == 3) unsupported_case();
	else if (!strcmp(c, "args") && argc == 3) args_case();
	else {
		fprintf(stderr, "readertest: bad arguments for %s\n", c);
		return 2;
	}
	return failures == 0 ? 0 : 1;
}
