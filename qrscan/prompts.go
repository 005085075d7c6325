package qrscan

import (
	"errors"
	"os"

	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/qrscan/hid"
	"github.com/sscagent/sscagent/qrscan/serial"
)

// Prompt codes of the QR scanners (range 3xxxxx).
const (
	// CodeScannerOffline: the scanner is unplugged or cannot be opened.
	CodeScannerOffline prompt.Code = 300001
	// CodeUnreadable: what was scanned is not usable text (too long, control bytes,
	// invalid UTF-8, noise).
	CodeUnreadable prompt.Code = 300002
	// CodeDuplicate: the same code was scanned again within the window.
	CodeDuplicate prompt.Code = 300003
	// CodeRateLimited: the scanner sends more codes than it may.
	CodeRateLimited prompt.Code = 300004
	// CodeBusy: a scan arrived while the previous one was still being processed.
	CodeBusy prompt.Code = 300005
	// CodeWrongClass: the code's class is not one the scene accepts (a product barcode
	// at an e-SSC gate, an NHSA e-voucher at a payment kiosk).
	CodeWrongClass prompt.Code = 300006
	// CodeDeviceBusy: another program holds the scanner (serial port open elsewhere,
	// evdev grabbed by another process).
	CodeDeviceBusy prompt.Code = 300007
	// CodeNoPermission: the agent's account may not open the scanner device.
	CodeNoPermission prompt.Code = 300008
)

// PromptFor returns the prompt code for a rejection reason.
func PromptFor(r Reason) prompt.Code {
	switch r {
	case ReasonDuplicate:
		return CodeDuplicate
	case ReasonRateLimited:
		return CodeRateLimited
	case ReasonBusy:
		return CodeBusy
	default:
		return CodeUnreadable
	}
}

// StatusPrompt returns the prompt code for a scanner that is not connected, from the
// error its Status carries: device busy, no permission, or simply unavailable.
func StatusPrompt(err error) prompt.Code {
	switch {
	case errors.Is(err, serial.ErrBusy), errors.Is(err, hid.ErrBusy):
		return CodeDeviceBusy
	case errors.Is(err, os.ErrPermission):
		return CodeNoPermission
	}
	return CodeScannerOffline
}

func init() {
	unavailable := prompt.Text{ZH: "扫码设备暂不可用，请联系工作人员", EN: "The scanner is not available, please ask staff for help"}
	prompt.Register(
		prompt.Message{Code: CodeScannerOffline,
			Holder:     unavailable,
			Operator:   prompt.Text{ZH: "扫码器未连接，请检查线缆和电源", EN: "Scanner not connected; check its cable and power"},
			Maintainer: prompt.Text{ZH: "扫码器未连接或无法打开，正在重试", EN: "Scanner absent or cannot be opened; retrying"}},
		prompt.Message{Code: CodeUnreadable,
			Holder:     prompt.Text{ZH: "未能识别二维码，请重新扫码", EN: "The code could not be read, please scan again"},
			Operator:   prompt.Text{ZH: "扫码内容无法识别，请让持卡人重新出示二维码", EN: "Unreadable scan; ask the holder to show the code again"},
			Maintainer: prompt.Text{ZH: "扫码内容无效：过长、含控制字符、非UTF-8或不完整", EN: "Invalid scan: too long, control bytes, invalid UTF-8 or incomplete"}},
		prompt.Message{Code: CodeDuplicate,
			Holder:     prompt.Text{ZH: "已收到您的二维码，请勿重复扫码", EN: "Your code has been received, no need to scan it again"},
			Operator:   prompt.Text{ZH: "同一二维码重复扫描，已忽略", EN: "Same code scanned again; ignored"},
			Maintainer: prompt.Text{ZH: "去重窗口内的重复扫码", EN: "Repeat within the de-duplication window"}},
		prompt.Message{Code: CodeRateLimited,
			Holder:     prompt.Text{ZH: "扫码过于频繁，请稍后再试", EN: "Too many scans, please try again in a moment"},
			Operator:   prompt.Text{ZH: "扫码器输入过于频繁，已限流", EN: "Scanner input too frequent; rate limited"},
			Maintainer: prompt.Text{ZH: "扫码速率超过限额，检查扫码器是否处于连续扫描模式或故障", EN: "Scan rate over the limit; check for continuous mode or a faulty scanner"}},
		prompt.Message{Code: CodeBusy,
			Holder:     prompt.Text{ZH: "正在处理，请稍候", EN: "Processing, please wait"},
			Operator:   prompt.Text{ZH: "上一笔扫码尚在处理，本次扫码未受理", EN: "Previous scan still in progress; this scan was not taken"},
			Maintainer: prompt.Text{ZH: "扫码队列已满，扫码被丢弃", EN: "Scan queue full; scan dropped"}},
		prompt.Message{Code: CodeWrongClass,
			Holder:     prompt.Text{ZH: "请出示本业务支持的二维码", EN: "Please show a code accepted for this service"},
			Operator:   prompt.Text{ZH: "扫描的二维码不适用于本业务", EN: "The scanned code does not apply to this service"},
			Maintainer: prompt.Text{ZH: "二维码类别不被当前场景接受", EN: "Code class not accepted by the scene"}},
		prompt.Message{Code: CodeDeviceBusy,
			Holder:     unavailable,
			Operator:   prompt.Text{ZH: "扫码器被其他程序占用，请关闭占用程序", EN: "Another program holds the scanner; close it"},
			Maintainer: prompt.Text{ZH: "扫码设备被占用（串口已被打开或输入设备已被独占）", EN: "Scanner device busy (serial port open elsewhere or input device grabbed)"}},
		prompt.Message{Code: CodeNoPermission,
			Holder:     unavailable,
			Operator:   prompt.Text{ZH: "终端无权限访问扫码器，请联系维护人员", EN: "The terminal may not open the scanner; call maintenance"},
			Maintainer: prompt.Text{ZH: "无权访问扫码设备，将服务账户加入 dialout 或 input 组", EN: "No permission on the scanner device; add the service account to dialout or input"}},
	)
}
