package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/services/crm/internal/app"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/order"
	"github.com/fabrika/fabrika/services/crm/internal/store"
	"github.com/google/uuid"
)

// TestCachedPagesEqualFreshReads: a change of one order drops only the
// cached pages it may change; after every change of a random sequence
// (orders placed, priced, started, cancel requests, cancellations, managers
// assigned), every page of every filter, sort and search, first and next,
// served by the cache equals the page read from the database, counters
// included, and its JSON is the page's.
func TestCachedPagesEqualFreshReads(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	st := store.New(f.db)
	rng := rand.New(rand.NewPCG(1, 2))
	bob := contracts.Customer{ID: "cust-bob", Name: "Bob Smithers", Email: "bob@smithers.test", Company: "Smithers Steel"}
	customers := []contracts.Customer{anna, acme, bob}
	queries := []string{"", "status=placed", "status=priced", "status=in_production", "status=cancelled", "channel=api",
		"manager=mia", "manager=unassigned", "customer=cust-anna", "cancel=requested", "from=2026-03-02&to=2026-03-03",
		"sort=total", "sort=total&dir=asc", "dir=asc", "q=smi", "q=acme", "q=anna", "q=smithers+steel", "q=fab-00",
		"q=smi&status=priced", "q=bob&sort=total", "q=acme&manager=mia"}
	var ids []string
	read := func(step string) {
		t.Helper()
		for _, raw := range queries {
			v, _ := url.ParseQuery(raw + "&limit=3")
			for range 2 { // the first page and the next
				q, err := listquery.Parse(v)
				if err != nil {
					t.Fatalf("%s: %v", raw, err)
				}
				got, err := f.app.ListOrders(ctx, q)
				if err != nil {
					t.Fatalf("%s: %v", raw, err)
				}
				rows, next, err := st.List(ctx, f.db, q)
				if err != nil {
					t.Fatal(err)
				}
				counts, err := st.Counts(ctx, f.db)
				if err != nil {
					t.Fatal(err)
				}
				if rows == nil {
					rows = []store.ListRow{}
				}
				if !reflect.DeepEqual(got.Rows, rows) || got.Next != next || !reflect.DeepEqual(got.Counts, counts) {
					t.Fatalf("after %s, %q (cursor %q): served %d rows %v next %q counts %v; the database has %d rows %v next %q counts %v",
						step, raw, v.Get("cursor"), len(got.Rows), orderIDs(got.Rows), got.Next, got.Counts, len(rows), orderIDs(rows), next, counts)
				}
				want, err := json.Marshal(app.Page{Rows: rows, Next: next, Counts: counts})
				if err != nil {
					t.Fatal(err)
				}
				if string(got.JSON) != string(want)+"\n" {
					t.Fatalf("after %s, %q: JSON %s, want %s", step, raw, got.JSON, want)
				}
				if next == "" {
					break
				}
				v.Set("cursor", next)
			}
		}
	}
	for i := range 160 {
		var step string
		switch k := rng.IntN(10); {
		case k < 3 || len(ids) < 4:
			id := fmt.Sprintf("o%03d", i)
			ch := []string{"shop", "api"}[rng.IntN(2)]
			p := placed(id, fmt.Sprintf("FAB-%04d", i), ch, customers[rng.IntN(len(customers))], int64(100+rng.IntN(50)*10))
			p.PlacedAt = t0.Add(time.Duration(rng.IntN(72)) * time.Hour)
			f.mustDeliver(contracts.OrderPlaced, uuid.NewString(), p)
			ids = append(ids, id)
			step = "placing " + id
		default:
			id := ids[rng.IntN(len(ids))]
			at := f.now.Add(time.Duration(i) * time.Minute)
			switch k {
			case 3, 4:
				f.mustDeliver(contracts.OrderPriced, uuid.NewString(), priced(id, int64(100+rng.IntN(50)*10), at))
				step = "pricing " + id
			case 5:
				f.mustDeliver(contracts.OrderInProduction, uuid.NewString(), status(id, at))
				step = "starting " + id
			case 6:
				f.mustDeliver(contracts.OrderCancelRequested, uuid.NewString(), status(id, at))
				step = "a cancel request of " + id
			case 7:
				f.mustDeliver(contracts.OrderCancelled, uuid.NewString(), status(id, at))
				step = "cancelling " + id
			default:
				c := f.card(id)
				_, err := f.app.Act(ctx, id, app.Action{Kind: order.ActAssign, Version: c.Order.Version, Manager: "mia", By: "boss"})
				if err != nil && c.Order.Status != contracts.StatusCancelled {
					t.Fatalf("assign %s: %v", id, err)
				}
				step = "assigning " + id
			}
		}
		read(step)
	}
}

func orderIDs(rows []store.ListRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.OrderID
	}
	return out
}
