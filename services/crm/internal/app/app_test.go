package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/crm/internal/app"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/order"
	"github.com/fabrika/fabrika/services/crm/internal/store"
	"github.com/fabrika/fabrika/services/crm/migrations"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

type fixture struct {
	t   *testing.T
	db  *sqldb.DB
	app *app.App
	h   map[string]inbox.Handler
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, testenv.DB(t, migrations.FS))
}

func newFixtureOn(t *testing.T, db *sqldb.DB) *fixture {
	t.Helper()
	ob := testenv.Outbox(t, db)
	f := &fixture{t: t, db: db, now: t0.Add(time.Hour)}
	f.app = app.New(db, ob, app.Options{Now: func() time.Time { return f.now },
		Stuck: map[string]time.Duration{"placed": 15 * time.Minute, "priced": 24 * time.Hour}})
	f.h = f.app.Handlers()
	for k, v := range f.app.ReferenceHandlers() {
		f.h[k] = v
	}
	// mia is a manager's account (the gateway announces it).
	f.mustDeliver(contracts.StaffChanged, "staff-mia", contracts.StaffChangedV1{StaffID: "s-mia", Login: "mia", Role: "manager", ChangedAt: t0})
	return f
}

// deliver runs an event's handler in a transaction, as the inbox does.
func (f *fixture) deliver(eventType, msgID string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	subject := contracts.Subject(eventType)
	h, ok := f.h[subject]
	if !ok {
		f.t.Fatalf("no handler for %s", subject)
	}
	return f.db.InTx(context.Background(), func(ctx context.Context, tx *sqldb.Tx) error {
		return h(ctx, tx, inbox.Message{ID: msgID, Subject: subject, Payload: b})
	})
}

func (f *fixture) mustDeliver(eventType, msgID string, payload any) {
	f.t.Helper()
	if err := f.deliver(eventType, msgID, payload); err != nil {
		f.t.Fatalf("deliver %s %s: %v", eventType, msgID, err)
	}
}

func (f *fixture) card(id string) app.Card {
	f.t.Helper()
	c, err := f.app.OrderCard(context.Background(), id)
	if err != nil {
		f.t.Fatalf("card %s: %v", id, err)
	}
	return c
}

func (f *fixture) count(query string, args ...any) int64 {
	f.t.Helper()
	var n int64
	if err := f.db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// checkCounters compares the kept counters with a count over the read model.
func (f *fixture) checkCounters() {
	f.t.Helper()
	counts, err := store.New(f.db).Counts(context.Background(), f.db)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, s := range contracts.Statuses() {
		if want := f.count(`SELECT COUNT(*) FROM crm_order_list WHERE status = $1`, s); counts["status:"+s] != want {
			f.t.Errorf("counter status:%s = %d, table has %d", s, counts["status:"+s], want)
		}
	}
	if want := f.count(`SELECT COUNT(*) FROM crm_order_list`); counts["all"] != want {
		f.t.Errorf("counter all = %d, table has %d", counts["all"], want)
	}
}

func placed(id, number, channel string, cust contracts.Customer, total int64) contracts.OrderPlacedV1 {
	return contracts.OrderPlacedV1{OrderID: id, Number: number, Channel: channel, Customer: cust, Currency: "EUR", QuotedTotal: total,
		PriceListVersion: 3, PlacedAt: t0, Delivery: contracts.Address{Line1: "Main St 1", City: "Berlin", PostalCode: "10115", Country: "DE"},
		Lines: []contracts.LineItem{{LineNo: 1, Product: "plate", Options: map[string]string{"material": "steel"}, Quantity: 10, Lead: "standard", UnitPrice: total / 10, Total: total}}}
}

var anna = contracts.Customer{ID: "cust-anna", Name: "Anna Smith", Email: "anna.smith@example.com"}
var acme = contracts.Customer{ID: "cust-acme", Name: "Bob Builder", Email: "bob@acme.test", Company: "Acme Industries"}

func priced(id string, total int64, at time.Time) contracts.OrderPricedV1 {
	return contracts.OrderPricedV1{OrderID: id, Channel: "shop", Total: total, Currency: "EUR", PriceListVersion: 4,
		Lines:    []contracts.PricedLine{{LineNo: 1, Quantity: 10, UnitPrice: total / 10, Total: total}},
		Routing:  []contracts.RoutingStep{{LineNo: 1, Seq: 1, Operation: "cut", Workstation: "LASER1", PlannedMinutes: 12}},
		LeadDays: 5, ShipDate: "2026-03-10", PricedAt: at}
}

func status(id string, at time.Time) contracts.OrderStatusChangedV1 {
	return contracts.OrderStatusChangedV1{OrderID: id, By: "op1", At: at}
}

func TestLifecycleFromEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustDeliver(contracts.OrderPlaced, "m1", placed("o1", "FAB-1", "shop", anna, 10000))
	f.mustDeliver(contracts.OrderPlaced, "m2", placed("o2", "FAB-2", "api", acme, 5000))
	f.mustDeliver(contracts.OrderPriced, "m3", priced("o1", 12000, t0.Add(time.Minute)))
	f.mustDeliver(contracts.OrderNeedsReview, "m4", contracts.OrderNeedsReviewV1{OrderID: "o2", Reason: "odd size", At: t0.Add(time.Minute)})

	c := f.card("o1")
	if c.Order.Status != "priced" || c.Order.Total != 12000 || c.Order.CalcVersion != 4 || len(c.Order.Routing) != 1 || c.Lines[0].PricedTotal != 12000 {
		t.Fatalf("o1 after pricing: %+v lines %+v", c.Order, c.Lines)
	}
	if c.Customer.Kind != store.KindPerson || c.Customer.TotalSpent != 12000 || c.Customer.OrderCount != 1 {
		t.Fatalf("anna: %+v", c.Customer)
	}
	if len(c.Timeline) != 2 || c.Timeline[0].Source != "shop" || c.Timeline[1].Source != "mes-calc" || c.Timeline[1].MessageID != "m3" {
		t.Fatalf("timeline: %+v", c.Timeline)
	}
	c2 := f.card("o2")
	if c2.Order.Status != "needs_review" || c2.Customer.Kind != store.KindCompany || c2.Customer.Company != "Acme Industries" || c2.Timeline[0].Source != "mes-api" {
		t.Fatalf("o2: %+v %+v %+v", c2.Order, c2.Customer, c2.Timeline)
	}
	f.mustDeliver(contracts.OperationFinished, "m5", contracts.OperationFinishedV1{OrderID: "o1", LineNo: 1, Seq: 1, Operation: "cut",
		Workstation: "LASER1", GoodQty: 10, Operator: "op1", At: t0.Add(2 * time.Minute)})
	if c := f.card("o1"); c.Order.Status != "priced" || len(c.Timeline) != 3 || c.Timeline[2].Source != "mes-operator" {
		t.Fatalf("operation.finished must only add to the timeline: %+v", c.Timeline)
	}
	f.checkCounters()
}

func TestOutOfOrderAndDuplicates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustDeliver(contracts.OrderPlaced, "m1", placed("o1", "FAB-1", "shop", anna, 10000))
	f.mustDeliver(contracts.OrderPriced, "m2", priced("o1", 10000, t0.Add(time.Minute)))
	// produced arrives before in_production (a redelivery overtook it).
	f.mustDeliver(contracts.OrderProduced, "m3", status("o1", t0.Add(3*time.Hour)))
	f.mustDeliver(contracts.OrderInProduction, "m4", status("o1", t0.Add(2*time.Hour)))
	c := f.card("o1")
	if c.Order.Status != "produced" {
		t.Fatalf("status = %s, want produced", c.Order.Status)
	}
	for _, e := range c.Timeline {
		if e.MessageID == "m4" && !strings.Contains(e.Summary, "status stays produced") {
			t.Errorf("the late event should say it changed nothing: %+v", e)
		}
	}
	version := c.Order.Version
	// The same message again, and the same order.placed under another id.
	f.mustDeliver(contracts.OrderProduced, "m3", status("o1", t0.Add(3*time.Hour)))
	f.mustDeliver(contracts.OrderPlaced, "m9", placed("o1", "FAB-1", "shop", anna, 10000))
	c = f.card("o1")
	if c.Order.Version != version || len(c.Timeline) != 4 || c.Customer.OrderCount != 1 || c.Customer.TotalSpent != 10000 {
		t.Fatalf("duplicates changed the order: version %d->%d timeline %d customer %+v", version, c.Order.Version, len(c.Timeline), c.Customer)
	}
	// Cancelled is terminal.
	f.mustDeliver(contracts.OrderCancelled, "m5", contracts.OrderStatusChangedV1{OrderID: "o1", Reason: "client", At: t0.Add(4 * time.Hour)})
	f.mustDeliver(contracts.OrderShipped, "m6", contracts.OrderShippedV1{OrderID: "o1", Carrier: "DHL", TrackingNumber: "T1", By: "op", At: t0.Add(5 * time.Hour)})
	c = f.card("o1")
	if c.Order.Status != "cancelled" || c.Order.Carrier != "" || c.Customer.TotalSpent != 0 {
		t.Fatalf("after cancel: %+v customer %+v", c.Order, c.Customer)
	}
	f.checkCounters()
}

// A customer's contact data is the latest order's: an order.placed re-sent
// under another message id changes nothing, not even the customer's data
// back to what that older order carried.
func TestReplayedPlacedKeepsLatestContact(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	moved := anna
	moved.Name, moved.Email = "Anna Jones", "anna.jones@example.com"
	f.mustDeliver(contracts.OrderPlaced, "m1", placed("o1", "FAB-1", "shop", anna, 10000))
	f.mustDeliver(contracts.OrderPlaced, "m2", placed("o2", "FAB-2", "shop", moved, 5000))
	f.mustDeliver(contracts.OrderPlaced, "m9", placed("o1", "FAB-1", "shop", anna, 10000))
	c := f.card("o1").Customer
	if c.Name != moved.Name || c.Email != moved.Email || c.OrderCount != 2 || c.TotalSpent != 15000 {
		t.Errorf("customer after a replayed order.placed: %+v; want %s <%s>, 2 orders, 15000", c, moved.Name, moved.Email)
	}
	f.checkCounters()
}

func TestParkedUntilPlaced(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.mustDeliver(contracts.OrderInProduction, "m3", status("o1", t0.Add(2*time.Hour)))
	f.mustDeliver(contracts.OrderPriced, "m2", priced("o1", 15000, t0.Add(time.Minute)))
	if n := f.count(`SELECT COUNT(*) FROM crm_parked WHERE order_id = 'o1'`); n != 2 {
		t.Fatalf("parked = %d, want 2", n)
	}
	if _, err := f.app.OrderCard(context.Background(), "o1"); !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("an order must not exist before order.placed: %v", err)
	}
	f.mustDeliver(contracts.OrderPlaced, "m1", placed("o1", "FAB-1", "shop", anna, 10000))
	c := f.card("o1")
	if c.Order.Status != "in_production" || c.Order.Total != 15000 || len(c.Timeline) != 3 || c.Customer.TotalSpent != 15000 {
		t.Fatalf("after placed: %+v timeline %d customer %+v", c.Order, len(c.Timeline), c.Customer)
	}
	if n := f.count(`SELECT COUNT(*) FROM crm_parked`); n != 0 {
		t.Fatalf("parked left: %d", n)
	}
	f.checkCounters()
}

func TestActions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.mustDeliver(contracts.OrderPlaced, "m1", placed("o1", "FAB-1", "shop", anna, 10000))
	outboxCount := func() int64 { return f.count(`SELECT COUNT(*) FROM outbox`) }

	// Confirm before pricing: refused, nothing written.
	_, err := f.app.Act(ctx, "o1", app.Action{Kind: order.ActConfirm, Version: 1, By: "mia"})
	if !errors.Is(err, order.ErrTransition) || outboxCount() != 0 {
		t.Fatalf("confirm placed: %v, outbox %d", err, outboxCount())
	}
	f.mustDeliver(contracts.OrderPriced, "m2", priced("o1", 12000, t0.Add(time.Minute)))
	v := f.card("o1").Order.Version

	// A stale version is a conflict and writes nothing.
	_, err = f.app.Act(ctx, "o1", app.Action{Kind: order.ActConfirm, Version: v - 1, By: "mia"})
	var ce *order.ConflictError
	if !errors.As(err, &ce) || ce.Current != v || outboxCount() != 0 || f.card("o1").Order.Status != "priced" {
		t.Fatalf("stale confirm: %v", err)
	}
	o, err := f.app.Act(ctx, "o1", app.Action{Kind: order.ActConfirm, Version: v, By: "mia"})
	if err != nil || o.Status != "confirmed" || o.Version != v+1 {
		t.Fatalf("confirm: %+v %v", o, err)
	}
	var subject, payload string
	if err := f.db.QueryRowContext(ctx, `SELECT subject, payload FROM outbox`).Scan(&subject, &payload); err != nil {
		t.Fatal(err)
	}
	var conf contracts.OrderConfirmedV1
	if err := json.Unmarshal([]byte(payload), &conf); err != nil || subject != contracts.Subject(contracts.OrderConfirmed) ||
		len(conf.Routing) != 1 || conf.By != "mia" || conf.Number != "FAB-1" || conf.ShipDate != "2026-03-10" {
		t.Fatalf("confirmed message %s %s", subject, payload)
	}
	v = o.Version
	steps := []app.Action{
		{Kind: order.ActHold},
		{Kind: order.ActResume},
		{Kind: order.ActAssign, Manager: "mia"},
		{Kind: order.ActNote, Note: "customer called"},
		{Kind: order.ActCompensation, CompKind: "voucher", Amount: 2500, Reason: "late"},
		{Kind: order.ActCancel, Reason: "customer changed mind"},
	}
	for _, s := range steps {
		s.Version, s.By = v, "mia"
		o, err := f.app.Act(ctx, "o1", s)
		if err != nil {
			t.Fatalf("%s: %v", s.Kind, err)
		}
		v = o.Version
	}
	c := f.card("o1")
	if c.Order.Status != "cancelled" || c.Order.Manager != "mia" || len(c.Notes) != 1 || len(c.Compensations) != 1 || c.Customer.TotalSpent != 0 {
		t.Fatalf("after actions: %+v notes %d comps %d", c.Order, len(c.Notes), len(c.Compensations))
	}
	if n := outboxCount(); n != 7 {
		t.Fatalf("outbox = %d messages, want 7", n)
	}
	cc, err := f.app.CustomerCard(ctx, anna.ID)
	if err != nil || len(cc.Compensations) != 1 || cc.Compensations[0].Amount != 2500 || len(cc.Notes) != 1 || len(cc.Orders) != 1 {
		t.Fatalf("customer card: %+v %v", cc, err)
	}
	// Each action is in the timeline with its outbox message id.
	if n := f.count(`SELECT COUNT(*) FROM crm_timeline t JOIN outbox o ON o.id = t.message_id WHERE t.order_id = 'o1'`); n != 7 {
		t.Fatalf("timeline entries with their message: %d", n)
	}
	// Our own cancelled message consumed back changes nothing.
	var cancelID string
	if err := f.db.QueryRowContext(ctx, `SELECT id FROM outbox WHERE subject = $1`, contracts.Subject(contracts.OrderCancelled)).Scan(&cancelID); err != nil {
		t.Fatal(err)
	}
	f.mustDeliver(contracts.OrderCancelled, cancelID, contracts.OrderStatusChangedV1{OrderID: "o1", At: f.now})
	if got := f.card("o1"); got.Order.Version != v || len(got.Timeline) != len(c.Timeline) {
		t.Fatalf("own event replayed changed the order")
	}
	f.checkCounters()
}

// TestAssignToStaff: an order is assigned only to an active manager or
// admin of the gateway's staff (staff.changed); an older state of an
// account arriving late changes nothing.
func TestAssignToStaff(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.mustDeliver(contracts.OrderPlaced, "m1", placed("o1", "FAB-1", "shop", anna, 10000))
	staff := func(id, login, role string, disabled bool, at time.Time) {
		f.mustDeliver(contracts.StaffChanged, "staff-"+id+at.String(), contracts.StaffChangedV1{StaffID: id, Login: login, Role: role, Disabled: disabled, ChangedAt: at})
	}
	staff("s-otto", "otto", "operator", false, t0)
	staff("s-max", "max", "manager", true, t0.Add(time.Minute))
	staff("s-max", "max", "manager", false, t0) // older: max stays disabled
	staff("s-ada", "ada", "admin", false, t0)
	for _, tc := range []struct {
		who string
		ok  bool
	}{{"moon", false}, {"otto", false}, {"max", false}, {"ada", true}, {"mia", true}} {
		_, err := f.app.Act(ctx, "o1", app.Action{Kind: order.ActAssign, Version: f.card("o1").Order.Version, Manager: tc.who, By: "mia"})
		if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, order.ErrInvalid)) {
			t.Errorf("assign to %s: %v", tc.who, err)
		}
	}
	ms, err := f.app.Managers(ctx)
	if err != nil || len(ms) != 2 || ms[0].Login != "ada" || ms[1].Login != "mia" {
		t.Fatalf("managers: %+v %v", ms, err)
	}
}

// TestPriceListNames: the CRM names products, materials, finishes,
// operations and workstations as the newest price list does, and keeps a
// name a newer list dropped.
func TestPriceListNames(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pl := contracts.DemoPriceList(t0)
	pl.Version = 3
	f.mustDeliver(contracts.PriceListPublished, "pl3", pl)
	old := contracts.DemoPriceList(t0)
	old.Version = 2
	old.Products[0].Name = "Old name"
	old.Materials = append(old.Materials, contracts.Material{Code: "unobtainium", Name: "Unobtainium", DensityKgM3: 1, CostPerKg: 1})
	f.mustDeliver(contracts.PriceListPublished, "pl2", old)
	n, err := f.app.Names(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ kind, code, want string }{
		{"product", "laser_cut_sheet", "Laser-cut sheet part"}, {"material", "steel_s235", "Steel S235"},
		{"finish", "powder_coat", "Powder coating"}, {"operation", "laser_cut", "Laser cutting"},
		{"workstation", "press_brake", "Press brake"}, {"material", "unobtainium", "Unobtainium"},
	} {
		if got := n[c.kind][c.code]; got != c.want {
			t.Errorf("%s %s: %q, want %q", c.kind, c.code, got, c.want)
		}
	}
}

func TestActionInputIsValidated(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.mustDeliver(contracts.OrderPlaced, "m1", placed("o1", "FAB-1", "shop", anna, 10000))
	bad := []app.Action{
		{Kind: order.ActNote, Version: 1, Note: strings.Repeat("x", order.MaxNote+1)},
		{Kind: order.ActNote, Version: 1, Note: " "},
		{Kind: order.ActCancel, Version: 1},
		{Kind: order.ActAssign, Version: 1},
		{Kind: order.ActCompensation, Version: 1, CompKind: "cash", Amount: 100, Reason: "x"},
		{Kind: order.ActCompensation, Version: 1, CompKind: "voucher", Amount: -1, Reason: "x"},
		{Kind: order.ActHold},
	}
	for _, a := range bad {
		if _, err := f.app.Act(ctx, "o1", a); !errors.Is(err, order.ErrInvalid) {
			t.Errorf("%+v: err = %v, want invalid", a, err)
		}
	}
	if _, err := f.app.Act(ctx, "nope", app.Action{Kind: order.ActHold, Version: 1}); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("unknown order: %v", err)
	}
	if n := f.count(`SELECT COUNT(*) FROM outbox`) + f.count(`SELECT COUNT(*) FROM crm_notes`); n != 0 {
		t.Fatalf("bad input wrote %d rows", n)
	}
	if v := f.card("o1").Order.Version; v != 1 {
		t.Fatalf("version moved to %d", v)
	}
}

func TestListFiltersSearchSortAndPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	const n = 57
	for i := range n {
		cust := anna
		ch := "shop"
		if i%3 == 0 {
			cust, ch = acme, "api"
		}
		p := placed(fmt.Sprintf("o%02d", i), fmt.Sprintf("FAB-%04d", i), ch, cust, int64(1000+i*37%500))
		p.PlacedAt = t0.Add(time.Duration(i) * time.Hour)
		f.mustDeliver(contracts.OrderPlaced, uuid.NewString(), p)
	}
	list := func(raw string) app.Page {
		t.Helper()
		v, _ := url.ParseQuery(raw)
		q, err := listquery.Parse(v)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		p, err := f.app.ListOrders(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return p
	}
	// Walk every page of each sort: every order once, in order.
	for _, sortQ := range []string{"", "sort=total", "sort=total&dir=asc", "dir=asc", "channel=api&sort=total"} {
		seen := map[string]bool{}
		var last *store.ListRow
		raw := sortQ + "&limit=10"
		for page := 0; ; page++ {
			p := list(raw)
			for _, r := range p.Rows {
				if seen[r.OrderID] {
					t.Fatalf("%s: %s twice", sortQ, r.OrderID)
				}
				seen[r.OrderID] = true
				if last != nil {
					ok := true
					switch sortQ {
					case "":
						ok = !r.PlacedAt.After(last.PlacedAt)
					case "sort=total", "channel=api&sort=total":
						ok = r.Total <= last.Total
					case "sort=total&dir=asc":
						ok = r.Total >= last.Total
					case "dir=asc":
						ok = !r.PlacedAt.Before(last.PlacedAt)
					}
					if !ok {
						t.Fatalf("%s: out of order at %s", sortQ, r.OrderID)
					}
				}
				r := r
				last = &r
			}
			if p.Next == "" {
				break
			}
			raw = sortQ + "&limit=10&cursor=" + p.Next
		}
		want := n
		if strings.Contains(sortQ, "api") {
			want = 19
		}
		if len(seen) != want {
			t.Fatalf("%s: walked %d orders, want %d", sortQ, len(seen), want)
		}
	}
	if p := list("q=acme"); len(p.Rows) != 19 {
		t.Fatalf("search company: %d", len(p.Rows))
	}
	if p := list("q=anna.smith@exam"); len(p.Rows) != 38 {
		t.Fatalf("search email: %d", len(p.Rows))
	}
	if p := list("q=FAB-0042"); len(p.Rows) != 1 || p.Rows[0].Number != "FAB-0042" {
		t.Fatalf("search number: %+v", p.Rows)
	}
	if p := list("q=fab004"); len(p.Rows) != 10 {
		t.Fatalf("search number prefix: %d", len(p.Rows))
	}
	if p := list("q=smi+ann"); len(p.Rows) != 38 {
		t.Fatalf("search two prefixes: %d", len(p.Rows))
	}
	if p := list("customer=cust-acme&limit=200"); len(p.Rows) != 19 {
		t.Fatalf("customer filter: %d", len(p.Rows))
	}
	if p := list("from=2026-03-02&to=2026-03-02&limit=200"); len(p.Rows) != 24 {
		t.Fatalf("date range: %d", len(p.Rows))
	}
	if p := list(""); p.Counts["status:placed"] != n || p.Counts["channel:api"] != 19 {
		t.Fatalf("counts: %v", p.Counts)
	}
	// The cache is invalidated by a write.
	before := list("status=priced")
	f.mustDeliver(contracts.OrderPriced, "px", priced("o05", 999, t0.Add(10*time.Hour)))
	after := list("status=priced")
	if len(before.Rows) != 0 || len(after.Rows) != 1 || before.ETag == after.ETag {
		t.Fatalf("cache not invalidated: %d -> %d", len(before.Rows), len(after.Rows))
	}
	// Manager filter.
	o, err := f.app.Act(ctx, "o05", app.Action{Kind: order.ActAssign, Version: f.card("o05").Order.Version, Manager: "mia", By: "boss"})
	if err != nil {
		t.Fatal(err)
	}
	if p := list("manager=mia"); len(p.Rows) != 1 || p.Rows[0].OrderID != o.ID {
		t.Fatalf("manager filter: %+v", p.Rows)
	}
	f.checkCounters()
}

func TestStuck(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p1 := placed("o1", "FAB-1", "shop", anna, 100)
	p2 := placed("o2", "FAB-2", "shop", anna, 100)
	p2.PlacedAt = t0.Add(-time.Hour)
	p3 := placed("o3", "FAB-3", "shop", anna, 100)
	p3.PlacedAt = f.now.Add(-time.Minute)
	f.mustDeliver(contracts.OrderPlaced, "m1", p1)
	f.mustDeliver(contracts.OrderPlaced, "m2", p2)
	f.mustDeliver(contracts.OrderPlaced, "m3", p3)
	f.mustDeliver(contracts.OrderPriced, "m4", priced("o1", 100, t0.Add(time.Minute)))
	rows, _, err := f.app.Stuck(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	// o1 is priced for 59m (< 24h), o3 placed 1m ago (< 15m): only o2.
	if len(rows) != 1 || rows[0].OrderID != "o2" {
		t.Fatalf("stuck: %+v", rows)
	}
	f.now = f.now.Add(48 * time.Hour)
	rows, _, _ = f.app.Stuck(context.Background(), 100)
	if len(rows) != 3 || rows[0].OrderID != "o2" || rows[1].OrderID != "o1" || rows[2].OrderID != "o3" {
		t.Fatalf("stuck oldest first: %+v", rows)
	}
}

// The stuck gauge counts what the stuck page lists, per status, with a
// series at zero for every status that has a threshold.
func TestStuckMetric(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gauge := func() string {
		t.Helper()
		reg := prometheus.NewRegistry()
		reg.MustRegister(f.app.StuckCollector(slog.New(slog.NewTextHandler(io.Discard, nil))))
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				got = append(got, fmt.Sprintf("%s{status=%s} %g", mf.GetName(), m.GetLabel()[0].GetValue(), m.GetGauge().GetValue()))
			}
		}
		return strings.Join(got, ", ")
	}
	if got, want := gauge(), "fabrika_crm_orders_stuck{status=placed} 0, fabrika_crm_orders_stuck{status=priced} 0"; got != want {
		t.Fatalf("no orders: %s, want %s", got, want)
	}
	p1 := placed("o1", "FAB-1", "shop", anna, 100)
	p1.PlacedAt = f.now.Add(-16 * time.Minute)
	p2 := placed("o2", "FAB-2", "shop", anna, 100)
	p2.PlacedAt = f.now.Add(-14 * time.Minute)
	p3 := placed("o3", "FAB-3", "shop", anna, 100)
	f.mustDeliver(contracts.OrderPlaced, "m1", p1)
	f.mustDeliver(contracts.OrderPlaced, "m2", p2)
	f.mustDeliver(contracts.OrderPlaced, "m3", p3)
	f.mustDeliver(contracts.OrderPriced, "m4", priced("o3", 100, f.now.Add(-25*time.Hour)))
	// o1 placed 16 min ago (> 15 min), o2 14 min ago, o3 priced 25 h ago (> 24 h).
	if got, want := gauge(), "fabrika_crm_orders_stuck{status=placed} 1, fabrika_crm_orders_stuck{status=priced} 1"; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
	f.now = f.now.Add(2 * time.Minute)
	if got, want := gauge(), "fabrika_crm_orders_stuck{status=placed} 2, fabrika_crm_orders_stuck{status=priced} 1"; got != want {
		t.Fatalf("two minutes later: %s, want %s", got, want)
	}
}

func TestConcurrentActionsOneWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.mustDeliver(contracts.OrderPlaced, "m1", placed("o1", "FAB-1", "shop", anna, 10000))
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := f.app.Act(ctx, "o1", app.Action{Kind: order.ActNote, Version: 1, By: "m", Note: fmt.Sprintf("note %d", i)})
			errs <- err
		}()
	}
	var ok, conflicts int
	for range n {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case errors.Is(err, order.ErrVersionConflict):
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("%d succeeded, %d conflicts; want 1 and %d", ok, conflicts, n-1)
	}
	if got := f.count(`SELECT COUNT(*) FROM crm_notes`); got != 1 {
		t.Fatalf("%d notes written, want 1", got)
	}
	if got := f.count(`SELECT COUNT(*) FROM outbox`); got != 1 {
		t.Fatalf("%d messages written, want 1", got)
	}
}

// With the page cache off, every list reads the database, and the counters
// it keeps between writes follow each write; the page's JSON is the page.
func TestListWithoutPageCache(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.app = app.New(f.db, nil, app.Options{CacheSize: -1, Now: func() time.Time { return f.now }})
	f.h = f.app.Handlers()
	list := func() app.Page {
		t.Helper()
		p, err := f.app.ListOrders(context.Background(), listquery.Query{Sort: listquery.SortDate, Dir: listquery.Desc, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for i, want := range []int64{1, 2, 3} {
		f.mustDeliver(contracts.OrderPlaced, fmt.Sprintf("m%d", i), placed(fmt.Sprintf("o%d", i), fmt.Sprintf("FAB-%d", i), "shop", anna, 100))
		p := list()
		if p.Counts["all"] != want || int64(len(p.Rows)) != min(want, 2) || (p.Next != "") != (want > 2) {
			t.Fatalf("after %d orders: counts %v, %d rows, next %q", want, p.Counts, len(p.Rows), p.Next)
		}
		encoded, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(p.JSON) != string(encoded)+"\n" {
			t.Fatalf("JSON %s does not hold the page", p.JSON)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "under 1 min"},
		{45 * time.Minute, "45 min"},
		{2*time.Hour + 5*time.Minute, "2 h 5 min"},
		{24 * time.Hour, "24 h"},
		{36 * time.Hour, "36 h"},
		{48 * time.Hour, "2 d"},
		{3*24*time.Hour + 4*time.Hour + 5*time.Minute, "3 d 4 h"},
	} {
		if got := app.Duration(c.d); got != c.want {
			t.Errorf("Duration(%s) = %q, want %q", c.d, got, c.want)
		}
	}
}

// busRecorder is a cache bus that keeps what was invalidated.
type busRecorder struct {
	drops map[string]func(string)
	sent  []string // cache + " " + key
}

func (b *busRecorder) Register(cache string, drop func(key string)) {
	if b.drops == nil {
		b.drops = map[string]func(string){}
	}
	b.drops[cache] = drop
}

func (b *busRecorder) Invalidate(cache, key string) {
	b.sent = append(b.sent, cache+" "+key)
	b.drops[cache](key)
}

// TestPlacedOrderTellsReplicasItsCustomerTokens: an order's tokens, which
// its customer may gain, go to every replica once the order is written
// (the search's kept sets of customers, store.ForgetCustomerTokens); the
// order's other events send none.
func TestPlacedOrderTellsReplicasItsCustomerTokens(t *testing.T) {
	db := testenv.DB(t, migrations.FS)
	bus := &busRecorder{}
	a := app.New(db, testenv.Outbox(t, db), app.Options{Caches: bus, Now: func() time.Time { return t0 }})
	h := a.Handlers()
	deliver := func(eventType, msgID string, payload any) {
		t.Helper()
		b, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		subject := contracts.Subject(eventType)
		if err := db.InTx(context.Background(), func(ctx context.Context, tx *sqldb.Tx) error {
			return h[subject](ctx, tx, inbox.Message{ID: msgID, Subject: subject, Payload: b})
		}); err != nil {
			t.Fatal(err)
		}
	}
	customers := func() []string {
		var out []string
		for _, s := range bus.sent {
			if key, ok := strings.CutPrefix(s, "customers "); ok {
				out = append(out, key)
			}
		}
		return out
	}
	deliver(contracts.OrderPlaced, "m1", placed("o1", "FAB-1", "shop", anna, 10000))
	got := customers()
	if len(got) != 1 || !slices.Contains(strings.Fields(got[0]), "anna") || !slices.Contains(strings.Fields(got[0]), "smith") ||
		!slices.Contains(strings.Fields(got[0]), "fab1") {
		t.Fatalf("customer tokens sent: %q; want one message with anna, smith, fab1", got)
	}
	deliver(contracts.OrderPriced, "m2", priced("o1", 10000, t0))
	if got := customers(); len(got) != 1 {
		t.Fatalf("customer tokens sent after order.priced: %q; want none more", got)
	}
}
