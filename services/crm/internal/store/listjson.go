package store

import (
	"strconv"

	"github.com/fabrika/fabrika/platform/jsonx"
)

// AppendJSON appends the row as encoding/json encodes it (the same fields,
// order, escaping and time format), without reflection: the orders page
// encodes fifty of them a request.
func (r ListRow) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = jsonx.AppendString(b, r.OrderID)
	b = append(b, `,"number":`...)
	b = jsonx.AppendString(b, r.Number)
	b = append(b, `,"channel":`...)
	b = jsonx.AppendString(b, r.Channel)
	b = append(b, `,"status":`...)
	b = jsonx.AppendString(b, r.Status)
	b = append(b, `,"status_since":`...)
	b = jsonx.AppendTime(b, r.StatusSince)
	b = append(b, `,"placed_at":`...)
	b = jsonx.AppendTime(b, r.PlacedAt)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, r.Total, 10)
	b = append(b, `,"currency":`...)
	b = jsonx.AppendString(b, r.Currency)
	if r.Manager != "" {
		b = append(b, `,"manager":`...)
		b = jsonx.AppendString(b, r.Manager)
	}
	b = append(b, `,"customer_id":`...)
	b = jsonx.AppendString(b, r.CustomerID)
	b = append(b, `,"customer_name":`...)
	b = jsonx.AppendString(b, r.CustomerName)
	b = append(b, `,"customer_email":`...)
	b = jsonx.AppendString(b, r.CustomerEmail)
	if r.CustomerCompany != "" {
		b = append(b, `,"customer_company":`...)
		b = jsonx.AppendString(b, r.CustomerCompany)
	}
	if r.CancelRequested {
		b = append(b, `,"cancel_requested":true`...)
	}
	return append(b, '}')
}
