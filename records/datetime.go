package records

import (
	"errors"
	"fmt"
	"time"
)

// DateTimeLayout is the standard's datetime form (C.1, spec 8.1.1.1 d), Beijing time.
const DateTimeLayout = "2006-01-02 15:04:05"

// beijing is China Standard Time, UTC+8 all year; the standard's datetimes carry no zone.
var beijing = time.FixedZone("CST", 8*60*60)

// The years a datetime can hold: four digits (spec 8.1.1.1 d 3 "年 4 位"). The standard
// sets no other bound, so a record dated 1970 (a terminal whose clock is not set) is as
// valid as its format.
const (
	minYear = 0
	maxYear = 9999
)

// FormatDateTime formats t as the standard's datetime in Beijing time:
// "2022-01-01 14:28:36". Sub-second precision is dropped.
func FormatDateTime(t time.Time) string { return t.In(beijing).Format(DateTimeLayout) }

// ParseDateTime parses a datetime and returns it in Beijing time. Accepted forms are the
// standard's "YYYY-MM-DD HH:MM:SS" (Beijing time) and, as C.1 allows other GB/T 7408
// forms, the same with "T" between date and time, optionally followed by "Z" or a UTC
// offset "+hh:mm" / "-hh:mm" (converted to Beijing time). The date must exist (no
// 2023-02-29), the time must be 00:00:00 to 23:59:59, the year in Beijing time four
// digits, and there are no fractional seconds: the standard counts in whole seconds
// ("精确到秒", tables C.3-C.5).
func ParseDateTime(s string) (time.Time, error) {
	if len(s) < 19 {
		return time.Time{}, fmt.Errorf("must be YYYY-MM-DD HH:MM:SS, got %s", quote(s))
	}
	base, zone := s[:19], s[19:]
	if !shape(base, "dddd-dd-dd?dd:dd:dd") || (base[10] != ' ' && base[10] != 'T') {
		return time.Time{}, fmt.Errorf("must be YYYY-MM-DD HH:MM:SS, got %s", quote(s))
	}
	loc := beijing
	switch {
	case zone == "":
	case base[10] != 'T':
		if zone[0] == '.' || zone[0] == ',' {
			return time.Time{}, errors.New("fractional seconds are not accepted: the standard counts whole seconds")
		}
		return time.Time{}, fmt.Errorf("must be YYYY-MM-DD HH:MM:SS, got %s", quote(s))
	case zone == "Z":
		loc = time.UTC
	case shape(zone, "?dd:dd") && (zone[0] == '+' || zone[0] == '-'):
		h, m := num(zone[1:3]), num(zone[4:6])
		if h > 14 || m > 59 {
			return time.Time{}, fmt.Errorf("UTC offset %s is out of range", quote(zone))
		}
		off := (h*60 + m) * 60
		if zone[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	default:
		if zone[0] == '.' || zone[0] == ',' {
			return time.Time{}, errors.New("fractional seconds are not accepted: the standard counts whole seconds")
		}
		return time.Time{}, fmt.Errorf("must be YYYY-MM-DD HH:MM:SS, got %s", quote(s))
	}
	y, mo, d := num(base[0:4]), num(base[5:7]), num(base[8:10])
	h, mi, sec := num(base[11:13]), num(base[14:16]), num(base[17:19])
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, fmt.Errorf("%s is not a real date and time", quote(s))
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, loc).In(beijing)
	if t.Year() < minYear || t.Year() > maxYear {
		return time.Time{}, fmt.Errorf("%s is outside the years %04d-%d in Beijing time", quote(s), minYear, maxYear)
	}
	return t, nil
}

// dateTime is the check of a datetime field: canonical form in Beijing time.
func dateTime(s string) (string, error) {
	t, err := ParseDateTime(s)
	if err != nil {
		return "", err
	}
	return t.Format(DateTimeLayout), nil
}

// shape reports whether s matches pattern, where 'd' is an ASCII digit, '?' any byte
// and every other byte itself.
func shape(s, pattern string) bool {
	if len(s) != len(pattern) {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch pattern[i] {
		case 'd':
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		case '?':
		default:
			if s[i] != pattern[i] {
				return false
			}
		}
	}
	return true
}

// num converts ASCII digits already checked by shape.
func num(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
