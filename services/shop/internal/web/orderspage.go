package web

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fabrika/fabrika/services/shop/internal/app"
)

// renderOrdersPage writes a page of "my orders" as JSON, byte for byte what
// encoding/json writes for ordersPageJSON (test TestOrdersPageJSON), without
// reflection: it runs on every page the page cache does not hold.
func renderOrdersPage(p app.Page) ([]byte, error) {
	b := make([]byte, 0, 64+len(p.Orders)*230)
	b = append(b, `{"orders":[`...)
	for i, o := range p.Orders {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, o.ID)
		b = append(b, `,"number":`...)
		b = appendString(b, o.Number)
		b = append(b, `,"status":`...)
		b = appendString(b, o.Status)
		b = append(b, `,"currency":`...)
		b = appendString(b, o.Currency)
		b = append(b, `,"quoted_total":`...)
		b = strconv.AppendInt(b, o.QuotedTotal, 10)
		if o.PricedTotal != 0 {
			b = append(b, `,"priced_total":`...)
			b = strconv.AppendInt(b, o.PricedTotal, 10)
		}
		b = append(b, `,"line_count":`...)
		b = strconv.AppendInt(b, int64(o.LineCount), 10)
		b = append(b, `,"cancel_requested":`...)
		b = strconv.AppendBool(b, o.CancelRequested)
		b = append(b, `,"placed_at":`...)
		b = append(b, '"')
		b = o.PlacedAt.AppendFormat(b, time.RFC3339Nano) // what Time.MarshalJSON writes for years 0-9999
		b = append(b, '"')
		b = append(b, '}')
	}
	b = append(b, ']')
	if p.Next != "" {
		b = append(b, `,"next_cursor":`...)
		b = appendString(b, p.Next)
	}
	return append(b, "}\n"...), nil
}

// appendString quotes s as encoding/json does; strings that need escaping
// (rare here: ids, numbers, codes) go through encoding/json itself.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
