package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/mail"
	"github.com/fabrika/fabrika/platform/password"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/shop/internal/app"
	"github.com/fabrika/fabrika/services/shop/internal/order"
	"github.com/fabrika/fabrika/services/shop/migrations"
)

type fixture struct {
	db   *sqldb.DB
	shop *app.Shop
	ctx  context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := testenv.DB(t, migrations.FS)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ob := testenv.Outbox(t, db)
	s, err := app.New(db, ob, app.Config{Password: password.Params{Memory: 1024, Time: 1, Threads: 1},
		Mail: &mail.Dir{Path: t.TempDir()}, SignUpSignsIn: true}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, shop: s, ctx: context.Background()}
}

// deliver runs a handler the way the inbox does: inside one transaction.
func (f *fixture) deliver(t *testing.T, handlers map[string]inbox.Handler, eventType, msgID string, payload any) {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	subject := contracts.Subject(eventType)
	h, ok := handlers[subject]
	if !ok {
		t.Fatalf("no handler for %s", subject)
	}
	err = f.db.InTx(f.ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		return h(ctx, tx, inbox.Message{ID: msgID, Subject: subject, Payload: b})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.QueryRowContext(f.ctx, q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func request() order.Request {
	return order.Request{
		Lines: []contracts.Config{{Product: "cnc_milled_part", Quantity: 5, Lead: "rush",
			Options: map[string]string{"material": "alu_6082", "width_mm": "80", "height_mm": "50", "thickness_mm": "20"}}},
		Delivery: contracts.Address{Line1: "Rue 1", City: "Lyon", PostalCode: "69001", Country: "FR"},
		Contact:  order.Contact{Name: "Chloé", Email: "chloe@example.fr"},
	}
}

func TestPriceListsNeverGoBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.shop.Catalog(f.ctx); !errors.Is(err, app.ErrNoPriceList) {
		t.Fatalf("before any list: %v", err)
	}
	h := f.shop.PriceListHandlers()
	for _, v := range []int64{2, 1, 2} { // a newer one, an older one late, a duplicate
		pl := contracts.DemoPriceList(time.Now())
		pl.Version = v
		pl.Currency = map[int64]string{1: "USD", 2: "EUR"}[v]
		f.deliver(t, h, contracts.PriceListPublished, "pl-"+time.Now().String(), pl)
		cat, err := f.shop.Catalog(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cat.Version != 2 || cat.Currency != "EUR" {
			t.Fatalf("after version %d: catalogue of version %d in %s", v, cat.Version, cat.Currency)
		}
	}
	q, err := f.shop.Quote(f.ctx, request().Lines[0])
	if err != nil || q.PriceListVersion != 2 {
		t.Fatalf("quote: %+v %v", q, err)
	}
	_, err = f.shop.Quote(f.ctx, contracts.Config{Product: "cnc_milled_part", Quantity: 1, Options: map[string]string{"material": "wood"}})
	if e, ok := app.AsError(err); !ok || e.Kind != app.KindInvalid || e.Fields["options.material"] == "" {
		t.Fatalf("bad material: %v", err)
	}
}

func TestEventsAreAppliedOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.deliver(t, f.shop.PriceListHandlers(), contracts.PriceListPublished, "pl", contracts.DemoPriceList(time.Now()))
	sess, err := f.shop.SignUp(f.ctx, app.SignUp{Email: "c@example.fr", Name: "C", Password: "long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	o, created, err := f.shop.PlaceOrder(f.ctx, sess.Customer, "k", request(), app.PlaceOptions{})
	if err != nil || !created {
		t.Fatal(err)
	}
	h := f.shop.Handlers()
	at := time.Now()
	// The same message twice: one timeline entry, one status change.
	for range 2 {
		f.deliver(t, h, contracts.OrderNeedsReview, "m1", contracts.OrderNeedsReviewV1{OrderID: o.ID, Reason: "tolerance", At: at})
	}
	// A later event moves it forward; an earlier status arriving late does not move it back.
	f.deliver(t, h, contracts.OrderProduced, "m2", contracts.OrderStatusChangedV1{OrderID: o.ID, At: at})
	f.deliver(t, h, contracts.OrderInProduction, "m3", contracts.OrderStatusChangedV1{OrderID: o.ID, At: at})
	// An order that is not the shop's is ignored without error.
	f.deliver(t, h, contracts.OrderShipped, "m4", contracts.OrderShippedV1{OrderID: "0190aaaa-0000-7000-8000-000000000001", Carrier: "DHL", TrackingNumber: "1", At: at})
	f.deliver(t, h, contracts.OrderShipped, "m5", contracts.OrderShippedV1{OrderID: "API-123", Carrier: "DHL", TrackingNumber: "1", At: at})
	f.deliver(t, h, contracts.OrderShipped, "m6", contracts.OrderShippedV1{OrderID: o.ID, Carrier: "DHL", TrackingNumber: "JD0001", At: at})

	got, err := f.shop.Order(f.ctx, sess.Customer, o.Number)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != contracts.StatusShipped || got.TrackingNumber != "JD0001" || len(got.Events) != 5 {
		t.Fatalf("status %s tracking %q events %d", got.Status, got.TrackingNumber, len(got.Events))
	}
	if n := f.count(t, `SELECT COUNT(*) FROM order_event WHERE id = 'm1'`); n != 1 {
		t.Fatalf("duplicate applied %d times", n)
	}
	// Shipped: too late to cancel, and nothing is emitted.
	if _, err := f.shop.RequestCancel(f.ctx, sess.Customer, o.ID, ""); err == nil {
		t.Fatal("cancel of a shipped order accepted")
	}
	if n := f.count(t, `SELECT COUNT(*) FROM outbox WHERE subject = $1`, contracts.Subject(contracts.OrderCancelRequested)); n != 0 {
		t.Fatalf("%d cancel requests emitted", n)
	}
	// The order.placed message was written with the order.
	var payload string
	if err := f.db.QueryRowContext(f.ctx, `SELECT payload FROM outbox WHERE msg_key = $1`, o.ID).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var placed contracts.OrderPlacedV1
	if err := json.Unmarshal([]byte(payload), &placed); err != nil || placed.Validate() != nil || placed.Lines[0].UnitPrice != o.Lines[0].UnitPrice || placed.Lines[0].Lead != "rush" {
		t.Fatalf("order.placed %s: %v", payload, err)
	}
}

func TestOrderNumbersAreUnique(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.deliver(t, f.shop.PriceListHandlers(), contracts.PriceListPublished, "pl", contracts.DemoPriceList(time.Now()))
	sess, err := f.shop.SignUp(f.ctx, app.SignUp{Email: "n@example.fr", Name: "N", Password: "long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 120 // several blocks of 50, reserved ahead in the background
	numbers := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, _, err := f.shop.PlaceOrder(f.ctx, sess.Customer, fmt.Sprintf("k%d", i), request(), app.PlaceOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			numbers <- o.Number
		}()
	}
	wg.Wait()
	close(numbers)
	seen := map[string]bool{}
	for num := range numbers {
		if seen[num] {
			t.Fatalf("number %s given twice", num)
		}
		seen[num] = true
	}
	if len(seen) != n {
		t.Fatalf("%d numbers for %d orders", len(seen), n)
	}
}
