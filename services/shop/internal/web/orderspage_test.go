package web

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/fabrika/fabrika/services/shop/internal/app"
	"github.com/fabrika/fabrika/services/shop/internal/store"
)

// ordersPageJSON is the shape of a page of "my orders" that renderOrdersPage
// writes by hand.
type ordersPageJSON struct {
	Orders     []summaryJSON `json:"orders"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func TestOrdersPageJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 6, 18, 33, 123456000, time.UTC)
	plain := store.Summary{ID: "0190aaaa-0000-7000-8000-000000000001", Number: "S-2026-000123", Status: "placed", Currency: "EUR",
		QuotedTotal: 123456, LineCount: 3, PlacedAt: at}
	odd := store.Summary{ID: `id "quoted" \\ <b>&`, Number: "S-ü-\u2028-\x01", Status: "shipped", Currency: "EUR",
		QuotedTotal: -1, PricedTotal: 99, LineCount: 50, CancelRequested: true, PlacedAt: at.Add(-time.Hour).Truncate(time.Second)}
	tests := []struct {
		name string
		page app.Page
	}{
		{"empty", app.Page{}},
		{"one", app.Page{Orders: []store.Summary{plain}}},
		{"escapes and next", app.Page{Orders: []store.Summary{plain, odd, plain}, Next: "MToxNzY0MDQ3NTEzMTIzNDU2OjAxOTA"}},
		{"zero time", app.Page{Orders: []store.Summary{{ID: "x"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := ordersPageJSON{Orders: []summaryJSON{}, NextCursor: tt.page.Next}
			for _, o := range tt.page.Orders {
				want.Orders = append(want.Orders, summaryJSON{ID: o.ID, Number: o.Number, Status: o.Status, Currency: o.Currency,
					QuotedTotal: o.QuotedTotal, PricedTotal: o.PricedTotal, LineCount: o.LineCount, CancelRequested: o.CancelRequested,
					PlacedAt: o.PlacedAt})
			}
			wb, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := renderOrdersPage(tt.page)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(wb)+"\n" {
				t.Fatalf("got  %s\nwant %s", got, wb)
			}
		})
	}
}
