package web

import (
	"encoding/json"

	"github.com/fabrika/fabrika/services/shop/internal/app"
)

// ordersPageJSON is a page of "my orders" in the API.
type ordersPageJSON struct {
	Orders     []summaryJSON `json:"orders"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// renderOrdersPage writes a page of "my orders" as JSON, and a newline; the
// page cache keeps the bytes.
func renderOrdersPage(p app.Page) ([]byte, error) {
	out := ordersPageJSON{Orders: make([]summaryJSON, 0, len(p.Orders)), NextCursor: p.Next}
	for _, o := range p.Orders {
		out.Orders = append(out.Orders, summaryJSON{ID: o.ID, Number: o.Number, Status: o.Status, Currency: o.Currency,
			QuotedTotal: o.QuotedTotal, PricedTotal: o.PricedTotal, LineCount: o.LineCount, CancelRequested: o.CancelRequested,
			PlacedAt: o.PlacedAt})
	}
	b, err := json.Marshal(out)
	return append(b, '\n'), err
}
