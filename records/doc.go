// Package records holds the business records of Appendix C (一卡通应用平台数据共享目录)
// that every flow ends in and that flow back to the platform (数据回流, 5.4.1):
//
//	Kind        type         table  Chinese
//	credential  *Credential  C.3    办事凭证数据  (card or e-card used as proof of identity)
//	payment     *Payment     C.4    支付结算数据  (payment or settlement)
//	benefit     *Benefit     C.5    待遇发放数据  (benefit or subsidy paid to the card)
//
// A record is refused at the door, never queued to fail later: Parse decodes strictly
// and validates every field against what the standard states for it, and reports every
// problem at once in a *ValidationError of FieldErrors {Field, Rule, Reason}: the C.2
// format and 是否必填 of its table row, the GB 11643, GB 32100 and GB/T 2260 code rules
// the row names, and the value ranges of C.4. Rules the standard does not state are not
// applied: the tables state none between fields (no order of times, no agreement between
// fields), and an amount may be zero or negative (spec 8.1.1.1 d 1).
//
// # Closed and open lists
//
// Tables C.6, C.8, C.9 and C.10 are closed: a value they do not list is refused. C.7
// (应用场景, 支付场景) is open, since each region may extend it (table A.1) and the
// standard's own examples go beyond it, and so are the lists a table introduces with
// "如" (for example): 用卡类型, 待遇类型, 发放标志, 坐标系, 业务处理状态. A value outside
// an open list is accepted as sent and reported once to the warning hook (SetWarn; by
// default a slog warning). Range.Open tells which is which.
//
// # Canonical form
//
// Every value is a string, as spec 8.1.1.1 d requires on the wire. Validation also
// normalises, losing nothing a reader of the standard would care about:
//
//   - surrounding white space is trimmed, and a blank value is an absent one;
//   - amounts are yuan with exactly two decimals ("798.86", "-12.50", "0.00"), parsed
//     exactly (never through float64), no "+", no exponent;
//   - coordinates have exactly four decimals ("108.5377"), rounded half away from zero
//     if more are sent ("保留4位");
//   - datetimes are "YYYY-MM-DD HH:MM:SS" in Beijing time;
//   - a listed value of a range carries the label of the standard's table, whether the
//     code or the label (with stray spaces, line breaks or full-width forms) was sent;
//     an unlisted value of an open list is kept as sent;
//   - the X of an ID number and the letters of a credit code are upper case.
//
// Parse returns records in canonical form; Encode turns any valid record into its
// canonical JSON bytes, which are what the queue stores and the platform receives.
// Records built in Go are checked with Validate and brought into canonical form with
// Normalize (or just Encode).
//
// # Personal data
//
// Field.Personal marks the fields that hold personal data (社会保障号码, 姓名, bank
// accounts) with their spec 8.3.2 masking rule. Masked returns a copy fit for events,
// logs and CLI output, and no FieldError.Reason ever repeats a personal value.
//
// The package does no I/O of its own (the default warning hook logs through
// slog.Default) and keeps one piece of state, the set of unlisted values already
// reported; it is safe for concurrent use.
// docs/records.md documents every field with examples.
package records
