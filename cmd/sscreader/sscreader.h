/*
 * sscreader.h: the national reader interface (读写终端接口, 人社信息函〔2016〕38号 on
 * LD/T 33-2015) as served by sscagent's reader library, libsscreader.so (Linux) and
 * SSCardDriver.dll (Windows). Drop-in for a vendor library: same names, same
 * signatures, same iType values, output strings and return codes.
 *
 * Every function returns 0 on success or a national error code (表A.1, and
 * -(SW1SW2) for a card status word); on failure pOutInfo holds the error text. All
 * strings are GBK. The library never writes more than the interface's output size
 * into pOutInfo (SSCR_OUT_SIZE, SSCR_READCARD_OUT_SIZE for iReadCard), NUL included.
 *
 * The reads go through the running sscagent (its local API; see
 * docs/reader-library.md for SSCREADER_ADDR and SSCREADER_TOKEN_FILE). Functions this
 * library does not carry out return -13 (不支持该命令).
 *
 * On 32-bit Windows the functions are __stdcall and exported undecorated, as vendor
 * DLLs are; elsewhere the platform's C calling convention.
 */
#ifndef SSCREADER_H
#define SSCREADER_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SSCR_CALL __stdcall
#if defined(SSCREADER_BUILD) && (defined(__i386__) || defined(_M_IX86))
#define SSCR_API /* the library exports these undecorated itself (national.go) */
#elif defined(SSCREADER_BUILD)
#define SSCR_API __declspec(dllexport)
#else
#define SSCR_API __declspec(dllimport)
#endif
#else
#define SSCR_CALL
#define SSCR_API __attribute__((visibility("default")))
#endif

/* iType: how the card is looked for. */
#define SSCR_CONTACT 1           /* contact */
#define SSCR_CONTACTLESS 2       /* contactless */
#define SSCR_CONTACT_FIRST 3     /* auto, contact first */
#define SSCR_CONTACTLESS_FIRST 4 /* auto, contactless first */

/* Output buffer sizes the interface fixes (bytes, NUL included). */
#define SSCR_OUT_SIZE 1024
#define SSCR_READCARD_OUT_SIZE (1024 * 20)

/* Supported. */

/* 读基本信息: the 11 fields, each followed by '|'. */
SSCR_API long SSCR_CALL iReadCardBas(int iType, char *pOutInfo);
/* 基于加密机的读基本信息 步骤一: the Step 1 string for 持卡库 卡内部认证. */
SSCR_API long SSCR_CALL iReadCardBas_HSM_Step1(int iType, char *pOutInfo);
/* 步骤二: pKey is the platform's answer; the 11 fields as iReadCardBas. */
SSCR_API long SSCR_CALL iReadCardBas_HSM_Step2(char *pKey, char *pOutInfo);

/* Not supported: -13 (不支持该命令). */

SSCR_API long SSCR_CALL iReadCard(int iType, int iAuthType, char *pCardInfo, char *pFileAddr, char *pOutInfo);
SSCR_API long SSCR_CALL iWriteCard(int iType, char *pCardInfo, char *pFileAddr, char *pWriteData, char *pOutInfo);
SSCR_API long SSCR_CALL iVerifyPIN(int iType, char *pOutInfo);
SSCR_API long SSCR_CALL iChangePIN(int iType, char *pOutInfo);
SSCR_API long SSCR_CALL iReloadPIN(int iType, char *pCardInfo, char *pOutInfo);
SSCR_API long SSCR_CALL iUnblockPIN(int iType, char *pCardInfo, char *pOutInfo);
SSCR_API long SSCR_CALL iDoDebit(int iType, char *pCardInfo, char *pPayInfo, char *pOutInfo);
SSCR_API long SSCR_CALL iReadDebitRecord(int iType, char *pOutInfo);
SSCR_API long SSCR_CALL iReadCard_HSM_Step1(int iType, char *pCardInfo, char *pFileAddr, char *pOutInfo);
SSCR_API long SSCR_CALL iReadCard_HSM_Step2(char *pKey, char *pOutInfo);
SSCR_API long SSCR_CALL iWriteCard_HSM_Step1(int iType, char *pCardInfo, char *pFileAddr, char *pOutInfo);
SSCR_API long SSCR_CALL iWriteCard_HSM_Step2(char *pKey, char *pWriteData, char *pOutInfo);
SSCR_API long SSCR_CALL iReloadPIN_HSM_Step1(int iType, char *pCardInfo, char *pOutInfo);
SSCR_API long SSCR_CALL iReloadPIN_HSM_Step2(char *pKey, char *pOutInfo);
SSCR_API long SSCR_CALL iReloadPIN_HSM_Step3(char *pKey, char *pOutInfo);
SSCR_API long SSCR_CALL iUnblockPIN_HSM_Step1(int iType, char *pCardInfo, char *pOutInfo);
SSCR_API long SSCR_CALL iUnblockPIN_HSM_Step2(char *pKey, char *pOutInfo);
SSCR_API long SSCR_CALL iUnblockPIN_HSM_Step3(char *pKey, char *pOutInfo);
SSCR_API long SSCR_CALL iDoDebit_HSM_Step1(int iType, char *pCardInfo, char *pPayInfo, char *pOutInfo);
SSCR_API long SSCR_CALL iDoDebit_HSM_Step2(char *pKey, char *pOutInfo);

#ifdef __cplusplus
}
#endif

#endif /* SSCREADER_H */
