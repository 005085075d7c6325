package upgrade

import (
	"errors"
	"fmt"

	"github.com/sscagent/sscagent/internal/prompt"
)

// Prompt codes of software upgrades (range 160000-160099 of the agent's).
const (
	CodeStaged        prompt.Code = 160001 // verified and staged; the terminal restarts into a trial
	CodeSucceeded     prompt.Code = 160002 // the new version runs and is healthy
	CodeRolledBack    prompt.Code = 160003 // the new version did not become healthy; the old one runs
	CodeOff           prompt.Code = 160004 // no release key pinned
	CodeBadSignature  prompt.Code = 160005 // signature, key or manifest not accepted
	CodeWrongPlatform prompt.Code = 160006 // the artifact is for another system or processor
	CodeDownload      prompt.Code = 160007 // the artifact could not be downloaded
	CodeDigest        prompt.Code = 160008 // the bytes differ from the manifest
	CodeBusy          prompt.Code = 160009 // another upgrade is in progress
	CodeCannotStage   prompt.Code = 160010 // the executable's directory is not writable, or the request is unusable
)

func init() {
	t := func(zh, en string) prompt.Text { return prompt.Text{ZH: zh, EN: en} }
	op := t("终端软件升级中，请稍候", "The terminal software is being updated, please wait")
	none := t("终端软件未变更", "The terminal software was not changed")
	prompt.Register(
		prompt.Message{Code: CodeStaged, Holder: op, Operator: op,
			Maintainer: t("升级包校验通过，终端重启试运行新版本", "Artifact verified; the terminal restarts to try the new version")},
		prompt.Message{Code: CodeSucceeded, Holder: t("服务已恢复", "Service restored"), Operator: t("终端软件已升级", "The terminal software was updated"),
			Maintainer: t("新版本运行正常，升级完成", "The new version is healthy; upgrade complete")},
		prompt.Message{Code: CodeRolledBack, Holder: t("服务已恢复", "Service restored"), Operator: t("终端软件升级失败，已恢复原版本", "The software update failed; the previous version runs"),
			Maintainer: t("新版本未在规定时间内报告正常，已回退到原版本", "The new version did not report healthy in time; rolled back to the old version")},
		prompt.Message{Code: CodeOff, Holder: none, Operator: none,
			Maintainer: t("终端未配置发布公钥（upgrade.releaseKeys），拒绝升级", "No release key pinned (upgrade.releaseKeys); upgrade refused")},
		prompt.Message{Code: CodeBadSignature, Holder: none, Operator: none,
			Maintainer: t("升级包清单签名校验失败，拒绝升级", "The release manifest's signature did not verify; upgrade refused")},
		prompt.Message{Code: CodeWrongPlatform, Holder: none, Operator: none,
			Maintainer: t("升级包与本终端的系统或处理器不符，拒绝升级", "The artifact is for another system or processor; upgrade refused")},
		prompt.Message{Code: CodeDownload, Holder: none, Operator: none,
			Maintainer: t("升级包下载失败", "The artifact could not be downloaded")},
		prompt.Message{Code: CodeDigest, Holder: none, Operator: none,
			Maintainer: t("升级包大小或摘要与清单不符，拒绝升级", "The artifact's size or digest differs from its manifest; upgrade refused")},
		prompt.Message{Code: CodeBusy, Holder: none, Operator: none,
			Maintainer: t("另一升级正在进行，拒绝本次升级", "Another upgrade is in progress; refused")},
		prompt.Message{Code: CodeCannotStage, Holder: none, Operator: none,
			Maintainer: t("升级请求不可执行，拒绝升级", "The upgrade request cannot be carried out; refused")},
	)
}

// Refusal is an upgrade the terminal refused: its 8.4 code and the cause. Its text
// (the command result's error) is the maintainer's Chinese message with the code,
// then the cause in English.
type Refusal struct {
	Code prompt.Code
	Err  error
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("%s%s: %v", prompt.Lookup(r.Code).Maintainer.ZH, r.Code, r.Err)
}

func (r *Refusal) Unwrap() error { return r.Err }

// PromptCode is the code terminal management puts in the command result.
func (r *Refusal) PromptCode() prompt.Code { return r.Code }

func refuse(code prompt.Code, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Err: fmt.Errorf(format, args...)}
}

// CodeOf returns err's refusal code, or CodeCannotStage.
func CodeOf(err error) prompt.Code {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Code
	}
	return CodeCannotStage
}
