package main

// The national functions themselves, in C with the signatures of sscreader.h (__stdcall
// and undecorated on 32-bit Windows, as vendor DLLs are). Each passes its output size to
// the Go side (exports.go).

/*
#define SSCREADER_BUILD
#include "sscreader.h"

// On 32-bit Windows a __stdcall function's symbol is decorated (_iReadCardBas@8);
// vendor DLLs export the plain name, so the linker is told to export it under that name
// (a .drectve directive, as __declspec(dllexport) makes, with an alias; the array
// holds it without a NUL). n is the
// size of the arguments.
#if defined(_WIN32) && defined(__i386__)
#define EXPORT(name, n) __attribute__((section(".drectve"), used)) static const char \
	export_##name[sizeof(" -export:" #name "=" #name "@" #n) - 1] = " -export:" #name "=" #name "@" #n;
#else
#define EXPORT(name, n)
#endif

extern long sscrReadCardBas(int iType, char *out, int size);
extern long sscrHSMStep1(int iType, char *out, int size);
extern long sscrHSMStep2(char *pKey, char *out, int size);
extern long sscrUnsupported(char *out, int size);

SSCR_API long SSCR_CALL iReadCardBas(int iType, char *pOutInfo) {
	return sscrReadCardBas(iType, pOutInfo, SSCR_OUT_SIZE);
}
EXPORT(iReadCardBas, 8)
SSCR_API long SSCR_CALL iReadCardBas_HSM_Step1(int iType, char *pOutInfo) {
	return sscrHSMStep1(iType, pOutInfo, SSCR_OUT_SIZE);
}
EXPORT(iReadCardBas_HSM_Step1, 8)
SSCR_API long SSCR_CALL iReadCardBas_HSM_Step2(char *pKey, char *pOutInfo) {
	return sscrHSMStep2(pKey, pOutInfo, SSCR_OUT_SIZE);
}
EXPORT(iReadCardBas_HSM_Step2, 8)

// Not supported: -13 with its text.
#define NOT_SUPPORTED return sscrUnsupported(pOutInfo, SSCR_OUT_SIZE)

SSCR_API long SSCR_CALL iReadCard(int iType, int iAuthType, char *pCardInfo, char *pFileAddr, char *pOutInfo) {
	return sscrUnsupported(pOutInfo, SSCR_READCARD_OUT_SIZE);
}
EXPORT(iReadCard, 20)
SSCR_API long SSCR_CALL iWriteCard(int iType, char *pCardInfo, char *pFileAddr, char *pWriteData, char *pOutInfo) {
	NOT_SUPPORTED;
}
EXPORT(iWriteCard, 20)
SSCR_API long SSCR_CALL iVerifyPIN(int iType, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iVerifyPIN, 8)
SSCR_API long SSCR_CALL iChangePIN(int iType, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iChangePIN, 8)
SSCR_API long SSCR_CALL iReloadPIN(int iType, char *pCardInfo, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iReloadPIN, 12)
SSCR_API long SSCR_CALL iUnblockPIN(int iType, char *pCardInfo, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iUnblockPIN, 12)
SSCR_API long SSCR_CALL iDoDebit(int iType, char *pCardInfo, char *pPayInfo, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iDoDebit, 16)
SSCR_API long SSCR_CALL iReadDebitRecord(int iType, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iReadDebitRecord, 8)
SSCR_API long SSCR_CALL iReadCard_HSM_Step1(int iType, char *pCardInfo, char *pFileAddr, char *pOutInfo) {
	return sscrUnsupported(pOutInfo, SSCR_READCARD_OUT_SIZE);
}
EXPORT(iReadCard_HSM_Step1, 16)
SSCR_API long SSCR_CALL iReadCard_HSM_Step2(char *pKey, char *pOutInfo) {
	return sscrUnsupported(pOutInfo, SSCR_READCARD_OUT_SIZE);
}
EXPORT(iReadCard_HSM_Step2, 8)
SSCR_API long SSCR_CALL iWriteCard_HSM_Step1(int iType, char *pCardInfo, char *pFileAddr, char *pOutInfo) {
	NOT_SUPPORTED;
}
EXPORT(iWriteCard_HSM_Step1, 16)
SSCR_API long SSCR_CALL iWriteCard_HSM_Step2(char *pKey, char *pWriteData, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iWriteCard_HSM_Step2, 12)
SSCR_API long SSCR_CALL iReloadPIN_HSM_Step1(int iType, char *pCardInfo, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iReloadPIN_HSM_Step1, 12)
SSCR_API long SSCR_CALL iReloadPIN_HSM_Step2(char *pKey, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iReloadPIN_HSM_Step2, 8)
SSCR_API long SSCR_CALL iReloadPIN_HSM_Step3(char *pKey, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iReloadPIN_HSM_Step3, 8)
SSCR_API long SSCR_CALL iUnblockPIN_HSM_Step1(int iType, char *pCardInfo, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iUnblockPIN_HSM_Step1, 12)
SSCR_API long SSCR_CALL iUnblockPIN_HSM_Step2(char *pKey, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iUnblockPIN_HSM_Step2, 8)
SSCR_API long SSCR_CALL iUnblockPIN_HSM_Step3(char *pKey, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iUnblockPIN_HSM_Step3, 8)
SSCR_API long SSCR_CALL iDoDebit_HSM_Step1(int iType, char *pCardInfo, char *pPayInfo, char *pOutInfo) {
	NOT_SUPPORTED;
}
EXPORT(iDoDebit_HSM_Step1, 16)
SSCR_API long SSCR_CALL iDoDebit_HSM_Step2(char *pKey, char *pOutInfo) { NOT_SUPPORTED; }
EXPORT(iDoDebit_HSM_Step2, 8)
*/
import "C"
