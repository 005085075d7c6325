package card

import (
	"fmt"

	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/internal/prompt"
)

// promptPINTries is the first of the wrong-PIN prompts: 250100 + the tries left.
const promptPINTries prompt.Code = 250100

// PINTries is the prompt of a wrong PIN with n tries left (0-15): the holder reads
// "密码错误，还可输入n次".
func PINTries(n int) prompt.Code { return promptPINTries + prompt.Code(n&0x0F) }

func init() {
	swMeanings[apdu.SWInsufficientFunds] = text{"余额不足", "insufficient funds"}
	ms := []prompt.Message{
		status(apdu.SWInsufficientFunds, prompt.Text{ZH: "医保个人账户余额不足，请使用其他方式支付", EN: "The medical account balance is too low, please pay another way"},
			"卡内医保个人账户余额不足，未扣款", "The card's medical account balance is too low; nothing was debited"),
	}
	for x := 0; x <= 0xF; x++ {
		ms = append(ms, msg(PINTries(x),
			prompt.Text{ZH: fmt.Sprintf("密码错误，还可输入%d次", x), EN: fmt.Sprintf("Wrong PIN, %d tries left", x)},
			fmt.Sprintf("持卡人密码校验失败，剩余%d次", x), fmt.Sprintf("The holder's PIN was wrong, %d tries left", x),
			fmt.Sprintf("PIN校验失败(-51)，卡片返回63C%X", x), fmt.Sprintf("PIN verification failed (-51), card answered 63C%X", x)))
	}
	for _, m := range ms {
		own[m.Code] = true
	}
	prompt.Register(ms...)
}
