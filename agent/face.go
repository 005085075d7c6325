package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/sscagent/sscagent/agent/localapi"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/queue"
	"github.com/sscagent/sscagent/records"
)

// C.6 办事凭证类型 of the face verification and login records.
const (
	credentialFace      = "03" // 电子社会保障卡人脸识别认证
	credentialAuthLogin = "04" // 社会保障卡信息授权登录
	credentialScanLogin = "05" // 电子社会保障卡扫码登录
)

// Prompt codes of face verification and QR login.
const (
	CodeFacePass      prompt.Code = 100140 // the platform matched the holder's face
	CodeFaceFail      prompt.Code = 100141 // the face did not match
	CodeLoginShown    prompt.Code = 100142 // a login code to show as a QR code
	CodeLoginOK       prompt.Code = 100143 // the holder approved the login on the phone
	CodeLoginExpired  prompt.Code = 100144 // the login code expired unapproved
	CodeLoginRefused  prompt.Code = 100145 // the holder declined the login
	CodeNoSuchLogin   prompt.Code = 100146 // GET /v1/login/{id}: unknown or forgotten
	CodeReadNoHolder  prompt.Code = 100147 // POST /v1/face: the read names no holder
	CodeLoginNoAnswer prompt.Code = 100148 // the platform did not answer the login
)

func (l *link) verifyFace(ctx context.Context, r platform.FaceRequest) (platform.FaceResult, error) {
	res, err := l.client().VerifyFace(ctx, r)
	l.note(err)
	return res, err
}

// VerifyFace implements localapi.FaceService: the holder of the read r.ReadID, the
// photograph to the platform (faceVerify), a C.3 record (办事凭证类型 03) of any answer.
// The image is never logged, stored or put in an event; the caller zeroes it.
func (s apiServices) VerifyFace(ctx context.Context, r localapi.FaceRequest) (localapi.FaceResult, error) {
	a := s.a
	rd, ok := a.reads.get(r.ReadID)
	if !ok {
		return localapi.FaceResult{}, coded{fmt.Errorf("%w: read %q unknown or expired (kept %s)", localapi.ErrNotFound, r.ReadID, readTTL), CodeReadUnavailable}
	}
	var id, name string
	switch {
	case rd.Card != nil:
		id, name = rd.Card.SocialSecurityNo, rd.Card.Name
	case rd.ECard != nil:
		id, name = rd.ECard.SocialSecurityNo, rd.ECard.Name
	}
	if id == "" {
		return localapi.FaceResult{}, &localapi.InvalidError{Code: CodeReadNoHolder,
			Fields: []localapi.FieldError{{Field: "readId", Reason: "the read is not a card or e-card read of a holder"}}}
	}
	sc, _ := a.sceneNamed(rd.Scene)
	authTime := time.Now()
	res, err := a.link.verifyFace(ctx, platform.FaceRequest{IDNumber: id, Name: name, Image: r.Image})
	mid, mname := mask.Of(mask.KindIDNumber, id), mask.Of(mask.KindName, name)
	data := map[string]any{"idNumber": mid.String(), "name": mname.String(), "class": platform.ClassOf(err).String()}
	out := localapi.FaceResult{Result: localapi.FaceUnavailable}
	code := platform.PromptFor(err)
	switch {
	case err == nil && res.Pass:
		out.Result, code = localapi.FacePass, CodeFacePass
	case err == nil:
		out.Result, code = localapi.FaceFail, CodeFaceFail
	case platform.ClassOf(err) == platform.ClassRejected:
		out.Result = localapi.FaceRefused
	}
	out.Score, out.Threshold, out.RequestID = res.Score, res.Threshold, res.RequestID
	data["result"], data["score"] = out.Result, out.Score
	cause := ""
	if err != nil {
		cause = err.Error()
	}
	a.emit(KindFaceVerified, sc.Name, "localapi", out.Result == localapi.FacePass, code, cause, data)
	if err == nil || platform.ClassOf(err) != platform.ClassRetryable {
		status := businessStatus(err)
		if err == nil && !res.Pass {
			status = statusRefused
		}
		rec := credential(a.Config(), sc, false, mid, mname, authTime, time.Now(), status)
		rec.CredentialType = credentialFace
		out.RecordID, _ = a.queueCredential(ctx, sc.Name, "localapi", rec)
	}
	out.Prompts = promptsOf(code)
	return out, nil
}

// queueCredential stores a C.3 record of a face verification or a login through
// putRecord (a record failing the App. C check goes to quarantine with an alarm) and
// reports its id and whether it was stored.
func (a *Agent) queueCredential(ctx context.Context, scene, source string, rec *records.Credential) (string, bool) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stepTimeout)
	defer cancel()
	data := map[string]any{"kind": "credential", "credentialType": rec.CredentialType, "businessStatus": rec.BusinessStatus}
	id, quarantined, err := a.putRecord(rctx, scene, source,
		queue.Entry{Lane: queue.LaneIdentity, Kind: string(records.KindCredential)}, rec, "", data)
	if err != nil {
		a.emit(KindRecordFailed, scene, source, false, promptOf(err, CodeRecordInvalid), err.Error(), map[string]any{"kind": "credential"})
		return "", false
	}
	if !quarantined {
		data["recordId"] = id
		a.emit(KindRecordQueued, scene, source, true, CodeRecordQueued, "", data)
	}
	return id, true
}

func init() {
	t := func(zh, en string) prompt.Text { return prompt.Text{ZH: zh, EN: en} }
	prompt.Register(
		prompt.Message{Code: CodeFacePass,
			Holder:     t("人脸认证通过", "Face verification passed"),
			Operator:   t("实人认证通过，可继续办理", "Face verified; continue the service"),
			Maintainer: t("平台人脸比对通过", "Platform face comparison passed")},
		prompt.Message{Code: CodeFaceFail,
			Holder:     t("人脸认证未通过，请正对摄像头重试或到窗口办理", "Face verification failed; face the camera and try again, or go to a counter"),
			Operator:   t("实人认证未通过（相似度低于阈值）", "Face verification failed (score below the threshold)"),
			Maintainer: t("平台人脸比对未通过", "Platform face comparison failed")},
		prompt.Message{Code: CodeLoginShown,
			Holder:     t("请使用电子社保卡扫描二维码登录", "Scan the code with your e-card app to log in"),
			Operator:   t("登录二维码已生成，等待持卡人扫码确认", "Login code shown; waiting for the holder to scan and approve"),
			Maintainer: t("平台已下发登录码", "Platform issued a login code")},
		prompt.Message{Code: CodeLoginOK,
			Holder:     t("登录成功", "Logged in"),
			Operator:   t("持卡人已扫码授权登录", "The holder approved the login"),
			Maintainer: t("平台返回登录已授权", "Platform: login authorised")},
		prompt.Message{Code: CodeLoginExpired,
			Holder:     t("二维码已过期，请重新获取", "The code expired; please get a new one"),
			Operator:   t("登录码已过期，持卡人未确认", "The login code expired unapproved"),
			Maintainer: t("平台返回登录码已过期", "Platform: login code expired")},
		prompt.Message{Code: CodeLoginRefused,
			Holder:     t("您已取消登录", "You cancelled the login"),
			Operator:   t("持卡人在手机上拒绝了登录", "The holder declined the login on the phone"),
			Maintainer: t("平台返回登录被拒绝", "Platform: login refused")},
		prompt.Message{Code: CodeNoSuchLogin,
			Holder:     t("登录已失效，请重新获取二维码", "The login is no longer valid; get a new code"),
			Operator:   t("无此登录或已过保留期", "No such login, or it is no longer kept"),
			Maintainer: t("本地接口查询的登录流水号未知或已过期", "Local API: login id unknown or expired")},
		prompt.Message{Code: CodeReadNoHolder,
			Holder:     t("请先读取社会保障卡或电子社保卡", "Please read your card or e-card first"),
			Operator:   t("该读卡结果不含持卡人，无法进行人脸认证", "The read names no holder; face verification needs a card or e-card read"),
			Maintainer: t("人脸认证引用的读卡结果无社会保障号码", "The read given to face verification has no social security number")},
		prompt.Message{Code: CodeLoginNoAnswer,
			Holder:     t("系统繁忙，请稍后重新登录", "The system is busy; please log in again later"),
			Operator:   t("平台未响应登录请求，请稍后重试", "The platform did not answer the login; try again later"),
			Maintainer: t("登录码申请或查询未得到平台应答", "loginCode or loginPoll got no answer")},
	)
}
