package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/fabrika/fabrika/services/crm/internal/store"
)

// AppendJSON writes what encoding/json writes.
func TestListRowAppendJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC)
	rows := []store.ListRow{
		{},
		{OrderID: "o1", Number: "FAB-2026-0000001", Channel: "shop", Status: "placed", StatusSince: at, PlacedAt: at.Add(-time.Hour),
			Total: 12345, Currency: "EUR", CustomerID: "c1", CustomerName: "Anna Müller", CustomerEmail: "anna@example.com"},
		{OrderID: "o2", Manager: "mia", CustomerCompany: "Acme <GmbH> & \"Co\"", CustomerName: "tab\there\nnew\\line\x01\x1f",
			CustomerEmail: "bad \xff utf8 \u2028 \u2029 ☃", Total: -5, PlacedAt: time.Unix(1_700_000_000, 0).In(time.FixedZone("x", 3600))},
	}
	for i, r := range rows {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("row %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
