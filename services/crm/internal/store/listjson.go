package store

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the row as encoding/json encodes it (the same fields,
// order, escaping and time format), without reflection: the orders page
// encodes fifty of them a request.
func (r ListRow) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, r.OrderID)
	b = append(b, `,"number":`...)
	b = AppendJSONString(b, r.Number)
	b = append(b, `,"channel":`...)
	b = AppendJSONString(b, r.Channel)
	b = append(b, `,"status":`...)
	b = AppendJSONString(b, r.Status)
	b = append(b, `,"status_since":`...)
	b = appendJSONTime(b, r.StatusSince)
	b = append(b, `,"placed_at":`...)
	b = appendJSONTime(b, r.PlacedAt)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, r.Total, 10)
	b = append(b, `,"currency":`...)
	b = AppendJSONString(b, r.Currency)
	if r.Manager != "" {
		b = append(b, `,"manager":`...)
		b = AppendJSONString(b, r.Manager)
	}
	b = append(b, `,"customer_id":`...)
	b = AppendJSONString(b, r.CustomerID)
	b = append(b, `,"customer_name":`...)
	b = AppendJSONString(b, r.CustomerName)
	b = append(b, `,"customer_email":`...)
	b = AppendJSONString(b, r.CustomerEmail)
	if r.CustomerCompany != "" {
		b = append(b, `,"customer_company":`...)
		b = AppendJSONString(b, r.CustomerCompany)
	}
	return append(b, '}')
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string the way encoding/json does:
// quotes, backslashes and control characters escaped, <, > and & as \u003c,
// \u003e and \u0026, U+2028 and U+2029 escaped, invalid UTF-8 as U+FFFD.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
