package protocol

import (
	"bytes"
	"fmt"
	"image/jpeg"

	"github.com/sscagent/sscagent/internal/mask"
)

// Face verification (7.1.3 电子社会保障卡实人认证): the terminal sends the holder's
// photograph taken at the kiosk with the holder's id, and the platform compares it with
// the registered portrait. It joins the operation table at package initialisation, after
// the operations of operation.go.
const OpFaceVerify Op = "faceVerify" // 实人认证（人脸比对）

// Face verification results (result of faceVerify).
const (
	FacePass = "pass" // the photograph is the holder's
	FaceFail = "fail" // it is not
)

// CodeNoPortrait: the platform holds no portrait of the person to compare with.
const CodeNoPortrait = "100011"

// MaxFaceImage bounds the JPEG of a faceVerify request (before base64).
const MaxFaceImage = 512 << 10

// CheckJPEG says why b is not a photograph faceVerify accepts: it must be at most
// MaxFaceImage bytes, begin with the JPEG SOI marker (FF D8 FF), end with EOI (FF D9)
// and carry a frame header of at least 16x16 pixels.
func CheckJPEG(b []byte) error {
	switch {
	case len(b) == 0:
		return fmt.Errorf("image is empty")
	case len(b) > MaxFaceImage:
		return fmt.Errorf("image is %d bytes, more than %d", len(b), MaxFaceImage)
	case !bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		return fmt.Errorf("image is not a JPEG (no SOI marker FF D8)")
	case !bytes.HasSuffix(b, []byte{0xFF, 0xD9}):
		return fmt.Errorf("image is not a whole JPEG (no EOI marker FF D9 at the end)")
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("image is not a readable JPEG: %v", err)
	}
	if cfg.Width < 16 || cfg.Height < 16 {
		return fmt.Errorf("image is %dx%d pixels, less than 16x16", cfg.Width, cfg.Height)
	}
	return nil
}

var faceOperations = []Operation{
	{
		Op: OpFaceVerify, ZH: "实人认证（人脸比对）", Path: "/api/v1/face/verify",
		Data: []Field{
			{Path: "idNumber", ZH: "社会保障号码", Required: true, Sensitive: mask.KindIDNumber, Doc: "the holder, from the card or e-card read of the same session"},
			{Path: "name", ZH: "姓名", Sensitive: mask.KindName, Doc: "the holder's name, when read"},
			{Path: "image", ZH: "人像照片", Required: true, Sensitive: mask.KindSecret, Doc: "the photograph: a JPEG of at most 512 KiB, standard base64"},
		},
		Result: []Field{
			{Path: "result", ZH: "比对结果", Required: true, Doc: "pass | fail"},
			{Path: "score", ZH: "相似度", Required: true, Doc: "the platform's similarity score, 0.00-100.00"},
			{Path: "threshold", ZH: "通过阈值", Doc: "the score a pass needs, 0.00-100.00"},
		},
	},
}

func init() {
	operations = append(operations, faceOperations...)
	msgCodes = append(msgCodes, MsgCode{CodeNoPortrait, KindRejected, "未登记人像信息", "no registered portrait of the person"})
}
