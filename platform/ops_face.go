package platform

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"

	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform/protocol"
)

// FaceRequest is a face verification (7.1.3 实人认证): the photograph taken at the
// terminal of the holder read in the same session.
type FaceRequest struct {
	IDNumber string // 社会保障号码, required
	Name     string // 姓名, optional
	// Image is the JPEG (protocol.CheckJPEG). It travels SM4-encrypted and is never
	// logged; the caller zeroes it after the call.
	Image []byte
}

// FaceResult is the platform's comparison: Pass with the score and the threshold.
type FaceResult struct {
	Pass      bool
	Score     string // 0.00-100.00
	Threshold string // may be empty
	RequestID string
}

var reScore = regexp.MustCompile(`^(100|[0-9]{1,2})\.[0-9]{2}$`)

// VerifyFace asks the platform whether the photograph is the holder's. A mismatch is a
// result (Pass false); an unknown person or one without a registered portrait is a
// ClassRejected error (100001, 100011).
func (c *Client) VerifyFace(ctx context.Context, r FaceRequest) (FaceResult, error) {
	var in inputCheck
	in.pattern("idNumber", r.IDNumber, reIDNumber, "18 characters: 17 digits and a digit or X")
	in.text("name", r.Name, 0, 60)
	if err := protocol.CheckJPEG(r.Image); err != nil {
		in.add("image", err.Error())
	}
	if err := in.err(protocol.OpFaceVerify); err != nil {
		return FaceResult{}, err
	}
	var d protocol.Data
	d.Set("idNumber", r.IDNumber)
	d.Set("name", r.Name)
	d.Set("image", base64.StdEncoding.EncodeToString(r.Image))
	rep, err := c.Call(ctx, protocol.OpFaceVerify, d)
	if err != nil {
		return FaceResult{}, err
	}
	g := rep.Result.Get
	res := FaceResult{Pass: g("result") == protocol.FacePass, Score: g("score"), Threshold: g("threshold"), RequestID: rep.RequestID}
	switch {
	case g("result") != protocol.FacePass && g("result") != protocol.FaceFail:
		return res, c.unverified(rep, fmt.Errorf("result %q", g("result")))
	case !reScore.MatchString(res.Score) || res.Threshold != "" && !reScore.MatchString(res.Threshold):
		return res, c.unverified(rep, fmt.Errorf("score %q, threshold %q", res.Score, res.Threshold))
	}
	return res, nil
}

// CodeNoPortrait: the platform holds no portrait of the holder (msgCode 100011).
const CodeNoPortrait prompt.Code = 400110

func init() {
	byMsgCode[protocol.CodeNoPortrait] = CodeNoPortrait
	prompt.Register(prompt.Message{Code: CodeNoPortrait,
		Holder:     prompt.Text{ZH: "未登记人像信息，无法进行人脸认证，请到窗口办理", EN: "No portrait on record for face verification; please go to a counter"},
		Operator:   prompt.Text{ZH: "平台无该人员的人像信息", EN: "The platform has no portrait of this person"},
		Maintainer: prompt.Text{ZH: "实人认证返回100011(未登记人像信息)", EN: "faceVerify answered 100011 (no portrait)"}})
}
