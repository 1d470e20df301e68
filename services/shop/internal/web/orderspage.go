package web

import (
	"strconv"

	"github.com/fabrika/fabrika/platform/jsonx"
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
		b = jsonx.AppendString(b, o.ID)
		b = append(b, `,"number":`...)
		b = jsonx.AppendString(b, o.Number)
		b = append(b, `,"status":`...)
		b = jsonx.AppendString(b, o.Status)
		b = append(b, `,"currency":`...)
		b = jsonx.AppendString(b, o.Currency)
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
		b = jsonx.AppendTime(b, o.PlacedAt)
		b = append(b, '}')
	}
	b = append(b, ']')
	if p.Next != "" {
		b = append(b, `,"next_cursor":`...)
		b = jsonx.AppendString(b, p.Next)
	}
	return append(b, "}\n"...), nil
}
