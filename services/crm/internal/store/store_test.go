package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/store"
	"github.com/fabrika/fabrika/services/crm/migrations"
)

// t0 is when the tests' orders are placed; never changed.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// open returns a store on a fresh database of engine e with the CRM's
// migrations.
func open(t *testing.T, e sqldb.Engine) (*sqldb.DB, *store.Store) {
	t.Helper()
	db := testenv.DBOn(t, e, migrations.FS)
	return db, store.New(db)
}

// ada is the customer c1, a person.
func ada() store.Customer {
	return store.Customer{ID: "c1", Kind: store.KindPerson, Name: "Ada", Email: "ada@x.io"}
}

// placed is order o1 (S-1, from the shop) of customer c1 at version 1,
// of total, placed at t0 and in status since.
func placed(status string, total int64) store.Order {
	return store.Order{ID: "o1", Number: "S-1", Channel: "shop", CustomerID: "c1", Status: status, StatusSince: t0, Version: 1,
		Total: total, PlacedAt: t0, UpdatedAt: t0}
}

// place writes customer c and its order o with o's row in the orders list,
// in one Writes, as order.placed does.
func place(t *testing.T, st *store.Store, db *sqldb.DB, c store.Customer, o store.Order) {
	t.Helper()
	var w store.Writes
	w.InsertCustomer(c, o.PlacedAt)
	w.InsertOrder(o, nil)
	w.InsertListRow(store.ListRow{OrderID: o.ID, Number: o.Number, Channel: o.Channel, Status: o.Status, StatusSince: o.StatusSince,
		PlacedAt: o.PlacedAt, Total: o.Total, Currency: c.Currency, CustomerID: c.ID, CustomerName: c.Name, CustomerEmail: c.Email,
		CustomerCompany: c.Company})
	if err := st.Write(context.Background(), db, &w); err != nil {
		t.Fatal(err)
	}
}

// insertRows writes rows to the orders list in one transaction, each with
// its PlacedAt as its StatusSince (set in rows too).
func insertRows(t *testing.T, st *store.Store, db *sqldb.DB, rows []store.ListRow) {
	t.Helper()
	err := db.InTx(context.Background(), func(ctx context.Context, tx *sqldb.Tx) error {
		for i := range rows {
			rows[i].StatusSince = rows[i].PlacedAt
			if err := st.InsertListRow(ctx, tx, rows[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pages reads q's pages with the options opt, each from the cursor of the
// previous page's last row, and returns the ids of their orders in order;
// page, if not nil, sees each page's query, its rows (one more than the
// limit when another page follows) and the plans that ran for it.
func pages(ctx context.Context, st *store.Store, db *sqldb.DB, q listquery.Query, opt store.Options,
	page func(q listquery.Query, rows []store.ListRow, ran []string)) ([]string, error) {
	var ids []string
	for {
		rows, ran, err := st.ListWith(ctx, db, q, opt)
		if err != nil {
			return ids, err
		}
		if page != nil {
			page(q, rows, ran)
		}
		for i, r := range rows {
			if i < q.Limit {
				ids = append(ids, r.OrderID)
			}
		}
		if len(rows) <= q.Limit {
			return ids, nil
		}
		last := rows[q.Limit-1]
		c := listquery.Cursor{ID: last.OrderID, Value: sqldb.Micros(last.PlacedAt)}
		if q.Sort == listquery.SortTotal {
			c.Value = last.Total
		}
		q.After = &c
	}
}

// eachStore runs test, in parallel with other tests, on a store on a fresh
// database of each engine (testenv.EachEngine), the engines in parallel too.
func eachStore(t *testing.T, test func(t *testing.T, db *sqldb.DB, st *store.Store)) {
	t.Helper()
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		db, st := open(t, e)
		test(t, db, st)
	})
}
