// Package prompt is the message catalogue of spec 8.4 (提示语). Every outcome a person can
// see has one Message with three texts, one per audience:
//
//   - holder (持卡人): short, polite, no codes or system terms, says what to do next;
//   - operator (经办人员): the result and the next step, or the cause and where it came from;
//   - maintainer (维护人员): the precise cause, ending with the numeric code, e.g.
//     "入参格式错误[900001]".
//
// Each text exists in Chinese (zh-CN, the default) and English. Codes are six digits and
// grouped by the part that raises them:
//
//	1xxxxx  agent, configuration, system      5xxxxx  payment
//	2xxxxx  card, reader, PSAM                60xxxx  records (Appendix C)
//	3xxxxx  QR scanners                       61xxxx-69xxxx  queue, backflow
//	4xxxxx  platform calls                    7xxxxx  terminal management
//	                                          9xxxxx  input format (900001, as in the spec)
//
// Packages register their messages from init with Register; a duplicate code panics at
// start-up, so two parts can never claim one code. When the cause of a failure is known
// at run time, WithCause adds it to the operator and maintainer texts ("业务办理失败，
// 原因为 XXXX", 8.4 b), masked, leaving the holder text alone.
package prompt

import (
	"fmt"
	"sort"
	"sync"

	"github.com/sscagent/sscagent/internal/mask"
)

// Code is a maintainer code, six digits.
type Code int

// String formats the code as it ends a maintainer text: "[900001]".
func (c Code) String() string { return fmt.Sprintf("[%06d]", int(c)) }

// Audience is who reads a text.
type Audience uint8

// Audiences of spec 8.4.
const (
	Holder Audience = iota
	Operator
	Maintainer
)

// Lang is a text language.
type Lang uint8

// Languages: Chinese first.
const (
	ZH Lang = iota
	EN
)

// Text is one text in both languages.
type Text struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// Message is one catalogue entry.
type Message struct {
	Code       Code
	Holder     Text
	Operator   Text
	Maintainer Text // without the trailing code; Render appends it
}

// Render returns the text for an audience and language. Maintainer texts end with the
// code; holder texts never contain it.
func (m Message) Render(a Audience, l Lang) string {
	pick := func(t Text) string {
		if l == EN && t.EN != "" {
			return t.EN
		}
		return t.ZH
	}
	switch a {
	case Holder:
		return pick(m.Holder)
	case Operator:
		return pick(m.Operator)
	default:
		return pick(m.Maintainer) + m.Code.String()
	}
}

// Prompts is a message rendered for every audience in one language, the form carried by
// events, the local API and MQTT.
type Prompts struct {
	Code       string `json:"code"`
	Holder     string `json:"holder"`
	Operator   string `json:"operator"`
	Maintainer string `json:"maintainer"`
}

// All renders m for all three audiences in language l.
func (m Message) All(l Lang) Prompts {
	return Prompts{
		Code:       fmt.Sprintf("%06d", int(m.Code)),
		Holder:     m.Render(Holder, l),
		Operator:   m.Render(Operator, l),
		Maintainer: m.Render(Maintainer, l),
	}
}

var (
	mu        sync.RWMutex // guards catalogue
	catalogue = map[Code]Message{}
)

// Register adds messages to the catalogue. It panics on a code outside 100000-999999, a
// duplicate code or a message missing a Chinese text; call it only from init.
func Register(ms ...Message) {
	mu.Lock()
	defer mu.Unlock()
	for _, m := range ms {
		if m.Code < 100000 || m.Code > 999999 {
			panic(fmt.Sprintf("prompt: code %d is not six digits", m.Code))
		}
		if _, dup := catalogue[m.Code]; dup {
			panic(fmt.Sprintf("prompt: code %06d registered twice", int(m.Code)))
		}
		if m.Holder.ZH == "" || m.Operator.ZH == "" || m.Maintainer.ZH == "" {
			panic(fmt.Sprintf("prompt: code %06d lacks a Chinese text", int(m.Code)))
		}
		catalogue[m.Code] = m
	}
}

// Lookup returns the message for code. An unknown code yields a generic message that
// still carries the code, so nothing is ever shown without one for the maintainer.
func Lookup(c Code) Message {
	mu.RLock()
	defer mu.RUnlock()
	if m, ok := catalogue[c]; ok {
		return m
	}
	m := catalogue[CodeInternal]
	m.Code = c
	return m
}

// WithCause returns a copy of m whose operator and maintainer texts name the cause, as
// spec 8.4 b) asks of operator texts ("业务办理失败，原因为 XXXX"): the operator text gets
// "，原因为<cause>" (English ": <cause>") and the maintainer text "：<cause>" before its
// code. The holder text is unchanged: causes are system terms. The cause is passed
// through mask.Text, so an ID or card number in an error message is masked. A cause
// with an empty language falls back to the other language.
func (m Message) WithCause(cause Text) Message {
	zh, en := mask.Text(cause.ZH), mask.Text(cause.EN)
	if zh == "" {
		zh = en
	}
	if en == "" {
		en = zh
	}
	if zh == "" {
		return m
	}
	m.Operator = Text{ZH: m.Operator.ZH + "，原因为" + zh, EN: joinEN(m.Operator.EN, en)}
	m.Maintainer = Text{ZH: m.Maintainer.ZH + "：" + zh, EN: joinEN(m.Maintainer.EN, en)}
	return m
}

func joinEN(text, cause string) string {
	if text == "" {
		return ""
	}
	return text + ": " + cause
}

// Catalogue returns every registered message ordered by code (for docs and tests).
func Catalogue() []Message {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]Message, 0, len(catalogue))
	for _, m := range catalogue {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// General codes.
const (
	CodeOK         Code = 100000
	CodeInternal   Code = 100001
	CodeBusy       Code = 100002
	CodeBadInput   Code = 900001
	CodeDiskFull   Code = 100003
	CodeNotAllowed Code = 100004
)

func init() {
	Register(
		Message{CodeOK,
			Text{"业务办理成功", "Done"},
			Text{"业务办理成功", "Completed successfully"},
			Text{"处理成功", "Succeeded"}},
		Message{CodeInternal,
			Text{"系统繁忙，请稍后再试", "The system is busy, please try again later"},
			Text{"系统异常，请联系维护人员", "System error, please contact maintenance"},
			Text{"内部错误", "Internal error"}},
		Message{CodeBusy,
			Text{"系统繁忙，请稍后再试", "The system is busy, please try again later"},
			Text{"系统繁忙，请稍后重试", "System busy, retry later"},
			Text{"资源繁忙或受限流", "Busy or rate limited"}},
		Message{CodeDiskFull,
			Text{"暂停办理，请联系工作人员", "Service paused, please ask staff for help"},
			Text{"终端存储已满，暂停受理新业务，请联系维护人员", "Terminal storage full; new business refused, call maintenance"},
			Text{"本地队列达到磁盘上限，拒绝新业务", "Local queue reached its disk cap; new business refused"}},
		Message{CodeNotAllowed,
			Text{"该业务暂不可办理", "This service is not available here"},
			Text{"终端未开通该业务", "This terminal is not configured for this service"},
			Text{"终端配置未启用该功能", "Feature not enabled in the terminal configuration"}},
		Message{CodeBadInput,
			Text{"信息格式有误，请检查后重新提交", "Some information is in the wrong format, please check and resubmit"},
			Text{"入参格式错误，请核对后重新提交", "Input format error; check and resubmit"},
			Text{"入参格式错误", "Input format error"}},
	)
}
