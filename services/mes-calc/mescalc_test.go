package mescalc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	mescalc "github.com/fabrika/fabrika/services/mes-calc"
	"github.com/fabrika/fabrika/services/mes-calc/migrations"
)

// monday is the service's clock in these tests: today is Monday 2 March
// 2026, production starts on Tuesday.
var monday = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

const wait = 60 * time.Second

// calcWorkers is the inbox workers of mes-calc's host: several, so that
// orders are calculated concurrently (on PostgreSQL mes-calc's orders
// subscription takes its own: 8, an order a transaction).
const calcWorkers = 4

// env is a broker, a fake producer (the shop) with its outbox, mes-calc,
// and a watcher of what mes-calc publishes.
type env struct {
	t      testing.TB
	ctx    context.Context
	b      *testenv.Broker
	shop   *host.Host
	calc   *host.Host
	svc    *mescalc.Service
	signer *identity.Signer
	watch  *watcher
}

func newEnv(t testing.TB, startCalc bool) *env {
	t.Helper()
	return newEnvWith(t, startCalc, envOptions{})
}

// envOptions vary mes-calc in a benchmark.
type envOptions struct {
	engine sqldb.Engine // of mes-calc's database (default: the test engine)
	serial bool         // mescalc.Config.Serial
}

func newEnvWith(t testing.TB, startCalc bool, opt envOptions) *env {
	t.Helper()
	limit := 90 * time.Second
	if _, ok := t.(*testing.B); ok {
		limit = 15 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, b: testenv.NewBroker(t)}
	var err error
	if e.shop, err = host.Open(ctx, testenv.HostConfig(t, "shop-fake", nil), e.b.Deps(t, "shop-fake")); err != nil {
		t.Fatal(err)
	}
	if _, err := broker.EnsureStream(ctx, e.shop.JS, 1); err != nil {
		t.Fatal(err)
	}
	e.watch = newWatcher(t, ctx, e.shop.JS)
	testenv.Run(t, e.shop, nil)
	pub, priv, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	e.signer = identity.NewSigner(priv)
	cfg := testenv.HostConfig(t, "mes-calc", migrations.FS)
	if opt.engine != "" {
		cfg.DSN = testenv.DSNOn(t, opt.engine)
	}
	cfg.Inbox.Workers = calcWorkers
	deps := e.b.Deps(t, "mes-calc")
	deps.Identity = identity.NewVerifier("mes-calc", pub)
	if e.calc, err = host.Open(ctx, cfg, deps); err != nil {
		t.Fatal(err)
	}
	if e.svc, err = mescalc.New(ctx, e.calc, mescalc.Config{Now: func() time.Time { return monday }, Serial: opt.serial}); err != nil {
		t.Fatal(err)
	}
	if startCalc {
		e.startCalc()
	}
	return e
}

func (e *env) startCalc() { testenv.Run(e.t, e.calc, e.svc.Handler()) }

// place publishes order.placed through the fake shop's outbox.
func (e *env) place(o contracts.OrderPlacedV1) {
	e.t.Helper()
	testenv.Publish(e.ctx, e.t, e.shop, contracts.Subject(contracts.OrderPlaced), o.OrderID, o)
}

func (e *env) publishEvent(eventType, key string, payload any) {
	e.t.Helper()
	testenv.Publish(e.ctx, e.t, e.shop, contracts.Subject(eventType), key, payload)
}

// api calls the admin API as role and decodes the JSON answer into out.
func (e *env) api(method, path, role string, body any, out any) int {
	e.t.Helper()
	req := testenv.Request(e.ctx, e.t, method, "http://"+e.calc.AdminAddr()+path, body)
	if role != "" {
		tok, err := e.signer.Sign("mes-calc", identity.Identity{Subject: "u-1", Name: "ada", Role: role}, time.Now())
		if err != nil {
			e.t.Fatal(err)
		}
		req.Header.Set(identity.Header, tok)
	}
	resp, raw := testenv.Send(e.t, nil, req)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

// booked is the total planned load in centiminutes.
func (e *env) booked() int64 {
	e.t.Helper()
	var n int64
	if err := e.calc.DB.QueryRowContext(e.ctx, `SELECT COALESCE(SUM(centiminutes), 0) FROM workstation_load`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// watcher collects what mes-calc publishes.
type watcher struct {
	mu       sync.Mutex
	priced   map[string][]contracts.OrderPricedV1
	review   map[string][]contracts.OrderNeedsReviewV1
	lists    []contracts.PriceListV1
	arrivals map[string]time.Time // first order.priced of an order
	placedAt map[string]time.Time // first order.placed of an order, as seen on the stream
	changed  chan struct{}
}

func newWatcher(t testing.TB, ctx context.Context, js jetstream.JetStream) *watcher {
	w := &watcher{priced: map[string][]contracts.OrderPricedV1{}, review: map[string][]contracts.OrderNeedsReviewV1{},
		arrivals: map[string]time.Time{}, placedAt: map[string]time.Time{}, changed: make(chan struct{}, 1)}
	c, err := js.OrderedConsumer(ctx, broker.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{
		contracts.Subject(contracts.OrderPlaced), contracts.Subject(contracts.OrderPriced), contracts.Subject(contracts.OrderNeedsReview),
		contracts.Subject(contracts.PriceListPublished)}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		now := time.Now()
		w.mu.Lock()
		switch contracts.EventType(m.Subject()) {
		case contracts.OrderPlaced:
			var p contracts.OrderPlacedV1
			if json.Unmarshal(m.Data(), &p) == nil {
				if _, ok := w.placedAt[p.OrderID]; !ok {
					w.placedAt[p.OrderID] = now
				}
			}
		case contracts.OrderPriced:
			var p contracts.OrderPricedV1
			if json.Unmarshal(m.Data(), &p) == nil {
				w.priced[p.OrderID] = append(w.priced[p.OrderID], p)
				if _, ok := w.arrivals[p.OrderID]; !ok {
					w.arrivals[p.OrderID] = now
				}
			}
		case contracts.OrderNeedsReview:
			var p contracts.OrderNeedsReviewV1
			if json.Unmarshal(m.Data(), &p) == nil {
				w.review[p.OrderID] = append(w.review[p.OrderID], p)
			}
		case contracts.PriceListPublished:
			var p contracts.PriceListV1
			if json.Unmarshal(m.Data(), &p) == nil {
				w.lists = append(w.lists, p)
			}
		}
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return w
}

// until waits for cond (read under the watcher's lock) to hold.
func (w *watcher) until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	w.untilWithin(t, wait, what, cond)
}

func (w *watcher) untilWithin(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(limit)
	for {
		w.mu.Lock()
		ok := cond()
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-w.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func bracketLine(no, qty int, lead string) contracts.LineItem {
	return contracts.LineItem{LineNo: no, Product: "laser_cut_sheet", Quantity: qty, Lead: lead, Options: map[string]string{
		contracts.OptMaterial: "steel_s235", contracts.OptWidth: "200", contracts.OptHeight: "100", contracts.OptThickness: "2"}}
}

func newOrder(id string, lines ...contracts.LineItem) contracts.OrderPlacedV1 {
	return contracts.OrderPlacedV1{OrderID: id, Number: "S-" + id, Channel: contracts.ChannelShop, Currency: "EUR",
		Customer: contracts.Customer{ID: "c-1", Name: "Ada", Email: "ada@example.com"}, Lines: lines,
		Delivery: contracts.Address{Line1: "1 Main St", City: "Ghent", PostalCode: "9000", Country: "BE"}, PlacedAt: monday}
}

func TestOrderPricedEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	printed := contracts.LineItem{LineNo: 2, Product: "printed_3d_part", Quantity: 4, Lead: contracts.LeadStandard, Options: map[string]string{
		contracts.OptMaterial: "pla", contracts.OptFinish: "paint", contracts.OptWidth: "60", contracts.OptHeight: "40", contracts.OptThickness: "20"}}
	o := newOrder("o-1", bracketLine(1, 10, contracts.LeadRush), printed)
	e.place(o)
	e.watch.until(t, "o-1 priced", func() bool { return len(e.watch.priced["o-1"]) == 1 })
	p := e.watch.priced["o-1"][0]

	pl := contracts.DemoPriceList(monday)
	var total int64
	for i, l := range o.Lines {
		q, err := pl.Quote(contracts.Config{Product: l.Product, Options: l.Options, Quantity: l.Quantity, Lead: l.Lead})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Lines[i]; got.LineNo != l.LineNo || got.UnitPrice != q.UnitPrice || got.Total != q.Total {
			t.Errorf("line %d: %+v, want unit %d total %d", l.LineNo, got, q.UnitPrice, q.Total)
		}
		total += q.Total
	}
	if p.Total != total || p.Currency != "EUR" || p.PriceListVersion != 1 || !p.Rush || p.Channel != contracts.ChannelShop {
		t.Errorf("priced %+v, want total %d EUR v1 rush", p, total)
	}
	var steps []string
	for _, s := range p.Routing {
		steps = append(steps, fmt.Sprintf("%d.%d %s@%s", s.LineNo, s.Seq, s.Operation, s.Workstation))
	}
	want := "1.1 laser_cut@laser 1.2 bend@press_brake 1.3 inspect@inspection 2.1 print@printer 2.2 post_process@finishing 2.3 finish_paint@finishing"
	if strings.Join(steps, " ") != want {
		t.Errorf("routing %v\nwant %s", steps, want)
	}
	// The rush line would ship Friday; the standard line sets the floor:
	// ten working days from Monday 2 March.
	if p.ShipDate != "2026-03-16" || p.LeadDays != 10 {
		t.Errorf("ship %s in %d days, want 2026-03-16 in 10", p.ShipDate, p.LeadDays)
	}
	load := e.booked()
	if load == 0 {
		t.Fatal("nothing booked")
	}

	// The same order re-sent (another message id): the outcome again, the
	// load untouched.
	e.place(o)
	e.watch.until(t, "o-1 priced twice", func() bool { return len(e.watch.priced["o-1"]) == 2 })
	if again := e.watch.priced["o-1"][1]; again.Total != p.Total || again.ShipDate != p.ShipDate || !again.PricedAt.Equal(p.PricedAt) {
		t.Errorf("re-published %+v, first %+v", again, p)
	}
	if got := e.booked(); got != load {
		t.Errorf("load %d after the re-send, was %d", got, load)
	}

	var c struct {
		Status string          `json:"status"`
		Total  int64           `json:"total"`
		Result json.RawMessage `json:"result"`
	}
	if code := e.api("GET", "/pricing/calculations/o-1", identity.RoleAdmin, nil, &c); code != 200 || c.Status != "priced" || c.Total != total {
		t.Errorf("calculation: %d %+v", code, c)
	}
	var ld struct {
		Load []struct {
			Workstation string  `json:"workstation"`
			Day         string  `json:"day"`
			Minutes     float64 `json:"planned_minutes"`
		} `json:"load"`
	}
	if code := e.api("GET", "/pricing/load?from=2026-03-02&days=10", identity.RoleAdmin, nil, &ld); code != 200 || len(ld.Load) == 0 {
		t.Errorf("load: %d %+v", code, ld)
	}
	if code := e.api("GET", "/pricing/load?from=yesterday", identity.RoleAdmin, nil, nil); code != 422 {
		t.Errorf("bad load query: %d", code)
	}

	resp, err := http.Get("http://" + e.calc.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`fabrika_mescalc_orders_total{outcome="priced",service="mes-calc"} 1`,
		`fabrika_mescalc_orders_total{outcome="republished",service="mes-calc"} 1`, `fabrika_mescalc_price_list_version{service="mes-calc"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Cancelled: its load is released; a late re-send books nothing.
	e.publishEvent(contracts.OrderCancelled, "o-1", contracts.OrderStatusChangedV1{OrderID: "o-1", Reason: "changed mind", At: monday})
	testenv.Eventually(t, wait, func() error {
		if got := e.booked(); got != 0 {
			return fmt.Errorf("load %d after cancel, want 0", got)
		}
		return nil
	})
}

func TestOrderNeedsReview(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	withOpts := func(opts map[string]string) contracts.LineItem {
		l := bracketLine(1, 5, "")
		l.Options = opts
		return l
	}
	cases := []struct {
		id, want string
		line     contracts.LineItem
	}{
		{"r-material", `material "unobtainium" is not available`, withOpts(map[string]string{
			contracts.OptMaterial: "unobtainium", contracts.OptWidth: "200", contracts.OptHeight: "100", contracts.OptThickness: "2"})},
		{"r-size", "width_mm must be between 10 and 3000 mm", withOpts(map[string]string{
			contracts.OptMaterial: "steel_s235", contracts.OptWidth: "4000", contracts.OptHeight: "100", contracts.OptThickness: "2"})},
		{"r-quantity", "quantity must be between 1 and 10000", bracketLine(1, 50_000, "")},
		{"r-product", `unknown product "rocket"`, contracts.LineItem{LineNo: 1, Product: "rocket", Quantity: 1}},
	}
	for _, tc := range cases {
		e.place(newOrder(tc.id, tc.line))
	}
	for _, tc := range cases {
		e.watch.until(t, tc.id+" needs review", func() bool { return len(e.watch.review[tc.id]) == 1 })
		r := e.watch.review[tc.id][0]
		if !strings.Contains(r.Reason, tc.want) || !strings.HasPrefix(r.Reason, "line 1: ") || r.Channel != contracts.ChannelShop {
			t.Errorf("%s: reason %q, want %q", tc.id, r.Reason, tc.want)
		}
		if len(e.watch.priced[tc.id]) != 0 {
			t.Errorf("%s was priced", tc.id)
		}
	}
	if got := e.booked(); got != 0 {
		t.Errorf("reviewed orders booked %d", got)
	}

	// The admin adds the missing material; the shop re-sends the order,
	// which is calculated again and priced.
	copper := contracts.Material{Name: "Copper", DensityKgM3: 8960, CostPerKg: 900}
	if code := e.api("PUT", "/pricing/materials/unobtainium", identity.RoleAdmin, copper, nil); code != 200 {
		t.Fatalf("put material: %d", code)
	}
	var pl contracts.PriceListV1
	e.api("GET", "/pricing/price-list", identity.RoleAdmin, nil, &pl)
	p := pl.Products[0]
	p.Materials = append(p.Materials, "unobtainium")
	if code := e.api("PUT", "/pricing/products/"+p.Code, identity.RoleAdmin, p, nil); code != 200 {
		t.Fatalf("put product: %d", code)
	}
	e.place(newOrder(cases[0].id, cases[0].line))
	e.watch.until(t, "re-sent order priced", func() bool { return len(e.watch.priced[cases[0].id]) == 1 })
	if got := e.watch.priced[cases[0].id][0]; got.PriceListVersion != 3 || got.Total <= 0 {
		t.Errorf("priced %+v", got)
	}
	if e.booked() == 0 {
		t.Error("the priced order booked nothing")
	}
}

func TestPriceListChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	e.watch.until(t, "version 1 published", func() bool { return len(e.watch.lists) == 1 })
	if v1 := e.watch.lists[0]; v1.Version != 1 || v1.Validate() != nil || len(v1.Products) != 4 {
		t.Fatalf("first list: v%d %v", v1.Version, v1.Validate())
	}

	var pl contracts.PriceListV1
	if code := e.api("GET", "/pricing/price-list", "", nil, nil); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code := e.api("PUT", "/pricing/materials/steel_s235", identity.RoleManager, contracts.Material{Name: "x", DensityKgM3: 1, CostPerKg: 1}, nil); code != 403 {
		t.Errorf("manager changing the list: %d", code)
	}
	if code := e.api("GET", "/pricing/price-list", identity.RoleAdmin, nil, &pl); code != 200 || pl.Version != 1 {
		t.Fatalf("get: %d v%d", code, pl.Version)
	}

	// Steel doubles in price: version 2, published, and it prices orders.
	steel := contracts.Material{Name: "Steel S235", DensityKgM3: 7850, CostPerKg: 240}
	if code := e.api("PUT", "/pricing/materials/steel_s235", identity.RoleAdmin, steel, &pl); code != 200 || pl.Version != 2 {
		t.Fatalf("put material: %d v%d", code, pl.Version)
	}
	e.watch.until(t, "version 2 published", func() bool { return len(e.watch.lists) == 2 })
	if v2 := e.watch.lists[1]; v2.Version != 2 || v2.Materials[0].CostPerKg != 240 {
		t.Errorf("published v%d steel %d", v2.Version, v2.Materials[0].CostPerKg)
	}

	problems := []struct {
		name, method, path string
		body               any
		field              string
		code               int
	}{
		{"negative density", "PUT", "/pricing/materials/steel_s235", contracts.Material{Name: "Steel", DensityKgM3: -1, CostPerKg: 1}, "density_kg_m3", 422},
		{"bad code", "PUT", "/pricing/materials/Bad%20Code", contracts.Material{Name: "x", DensityKgM3: 1, CostPerKg: 1}, "code", 422},
		{"code differs", "PUT", "/pricing/materials/abs", contracts.Material{Code: "pla", Name: "x", DensityKgM3: 1, CostPerKg: 1}, "code", 422},
		{"material in use", "DELETE", "/pricing/materials/steel_s235", nil, "products.laser_cut_sheet.materials", 422},
		{"unknown workstation", "PUT", "/pricing/products/bracket", contracts.Product{Name: "Bracket", Materials: []string{"steel_s235"},
			Width: contracts.Range{Min: 1, Max: 10}, Height: contracts.Range{Min: 1, Max: 10}, Thickness: contracts.Range{Min: 1, Max: 2},
			Operations: []contracts.Operation{{Code: "weld", Name: "Welding", Workstation: "welder", RunMinutes: 1}}}, "products.bracket.operations[0].workstation", 422},
		{"rush slower than standard", "PUT", "/pricing/settings", map[string]any{"currency": "EUR", "margin_pct": 35, "minimum_unit_price": 150,
			"rush_multiplier": 1.5, "standard_lead_days": 5, "rush_lead_days": 8, "max_quantity": 100, "quantity_breaks": []int{1, 10}}, "rush_lead_days", 422},
		{"capacity of zero hours", "PUT", "/pricing/workstations/laser", contracts.Workstation{Name: "Laser", HourlyRate: 9000}, "hours_per_day", 422},
		{"unknown field", "PUT", "/pricing/materials/abs", map[string]any{"name": "ABS", "colour": "red"}, "colour", 400},
		{"delete unknown", "DELETE", "/pricing/finishes/gold_leaf", nil, "", 404},
	}
	for _, p := range problems {
		var prob struct {
			Errors map[string]string `json:"errors"`
		}
		code := e.api(p.method, p.path, identity.RoleAdmin, p.body, &prob)
		if code != p.code {
			t.Errorf("%s: %d, want %d (%v)", p.name, code, p.code, prob.Errors)
			continue
		}
		if _, ok := prob.Errors[p.field]; p.field != "" && !ok {
			t.Errorf("%s: errors %v do not name %s", p.name, prob.Errors, p.field)
		}
	}
	if code := e.api("GET", "/pricing/price-list", identity.RoleAdmin, nil, &pl); code != 200 || pl.Version != 2 {
		t.Fatalf("after refused changes: %d v%d", code, pl.Version)
	}

	// A new product with a new workstation, then the settings.
	welder := contracts.Workstation{Name: "Welding cell", HourlyRate: 6500, HoursPerDay: 8}
	if code := e.api("PUT", "/pricing/workstations/welder", identity.RoleAdmin, welder, &pl); code != 200 || pl.Version != 3 {
		t.Fatalf("put workstation: %d v%d", code, pl.Version)
	}
	frame := contracts.Product{Name: "Welded frame", Materials: []string{"steel_s235"}, Finishes: []string{"none", "powder_coat"},
		Width: contracts.Range{Min: 100, Max: 2000}, Height: contracts.Range{Min: 100, Max: 1000}, Thickness: contracts.Range{Min: 2, Max: 6},
		Operations: []contracts.Operation{{Code: "weld", Name: "Welding", Workstation: "welder", SetupMinutes: 20, RunMinutes: 30},
			{Code: "inspect", Name: "Inspection", Workstation: "inspection", RunMinutes: 5}}}
	if code := e.api("PUT", "/pricing/products/welded_frame", identity.RoleAdmin, frame, &pl); code != 200 || pl.Version != 4 {
		t.Fatalf("put product: %d v%d", code, pl.Version)
	}
	settings := map[string]any{"currency": "EUR", "margin_pct": 40, "minimum_unit_price": 500, "rush_multiplier": 2,
		"standard_lead_days": 8, "rush_lead_days": 3, "max_quantity": 5000, "quantity_breaks": []int{1, 25, 250}}
	if code := e.api("PUT", "/pricing/settings", identity.RoleAdmin, settings, &pl); code != 200 || pl.Version != 5 || pl.MinimumUnitPrice != 500 {
		t.Fatalf("put settings: %d v%d", code, pl.Version)
	}
	e.api("PUT", "/pricing/finishes/powder_coat", identity.RoleAdmin, contracts.Finish{Name: "Powder", CostPerM2: 1300, Workstation: "finishing", Minutes: 2}, &pl)
	if pl.Version != 6 {
		t.Fatalf("put finish: v%d", pl.Version)
	}
	// If-Match with a stale version is refused.
	req, _ := http.NewRequestWithContext(e.ctx, "DELETE", "http://"+e.calc.AdminAddr()+"/pricing/products/welded_frame", nil)
	tok, _ := e.signer.Sign("mes-calc", identity.Identity{Subject: "u-1", Name: "ada", Role: identity.RoleAdmin}, time.Now())
	req.Header.Set(identity.Header, tok)
	req.Header.Set("If-Match", `"5"`)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 412 {
		t.Fatalf("stale If-Match: %v %v", resp, err)
	}
	e.watch.until(t, "version 6 published", func() bool { return len(e.watch.lists) == 6 })
	var v struct {
		Version     int64                 `json:"version"`
		PublishedBy string                `json:"published_by"`
		PriceList   contracts.PriceListV1 `json:"price_list"`
	}
	if code := e.api("GET", "/pricing/price-list/versions/2", identity.RoleAdmin, nil, &v); code != 200 || v.PublishedBy != "ada" || v.PriceList.Materials[0].CostPerKg != 240 {
		t.Errorf("version 2: %d %+v", code, v)
	}

	frameLine := contracts.LineItem{LineNo: 1, Product: "welded_frame", Quantity: 3, Lead: contracts.LeadRush, Options: map[string]string{
		contracts.OptMaterial: "steel_s235", contracts.OptFinish: "powder_coat", contracts.OptWidth: "800", contracts.OptHeight: "400", contracts.OptThickness: "3"}}
	e.place(newOrder("o-frame", frameLine))
	e.watch.until(t, "frame priced", func() bool { return len(e.watch.priced["o-frame"]) == 1 })
	p := e.watch.priced["o-frame"][0]
	q, err := pl.Quote(contracts.Config{Product: frameLine.Product, Options: frameLine.Options, Quantity: 3, Lead: contracts.LeadRush})
	if err != nil {
		t.Fatal(err)
	}
	if p.PriceListVersion != 6 || p.Total != q.Total || p.ShipDate != "2026-03-05" {
		t.Errorf("frame: v%d total %d ship %s, want v6 %d 2026-03-05", p.PriceListVersion, p.Total, p.ShipDate, q.Total)
	}
}

func TestOrdersWaitWhileCalcIsDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	const n = 30
	for i := range n {
		e.place(newOrder(fmt.Sprint("w-", i), bracketLine(1, 1+i, contracts.LeadStandard)))
	}
	// The shop's relay publishes them to the stream; nobody prices them.
	e.watch.until(t, "every order on the stream", func() bool { return len(e.watch.placedAt) == n })
	e.watch.mu.Lock()
	early := len(e.watch.priced)
	e.watch.mu.Unlock()
	if early != 0 {
		t.Fatalf("%d orders priced while mes-calc was down", early)
	}
	e.startCalc()
	e.watch.until(t, "all orders priced", func() bool { return len(e.watch.priced) == n })
	for i := range n {
		if got := e.watch.priced[fmt.Sprint("w-", i)]; len(got) != 1 || got[0].Lines[0].Quantity != 1+i {
			t.Errorf("w-%d: %+v", i, got)
		}
	}
	e.checkLoad()
}

// checkLoad asserts that no workstation is planned beyond its capacity on
// any day, and that the load is the sum of the orders' bookings.
func (e *env) checkLoad() {
	e.t.Helper()
	capacity := map[string]int64{}
	for _, ws := range contracts.DemoPriceList(monday).Workstations {
		capacity[ws.Code] = int64(ws.HoursPerDay * 60 * 100)
	}
	rs, err := e.calc.DB.QueryContext(e.ctx, `SELECT workstation, day, centiminutes FROM workstation_load`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var sum int64
	for rs.Next() {
		var ws string
		var day, cm int64
		if err := rs.Scan(&ws, &day, &cm); err != nil {
			e.t.Fatal(err)
		}
		if cm > capacity[ws] || cm < 0 {
			e.t.Errorf("%s on day %d: %d centiminutes planned, capacity %d", ws, day, cm, capacity[ws])
		}
		sum += cm
	}
	var booked int64
	if err := e.calc.DB.QueryRowContext(e.ctx, `SELECT COALESCE(SUM(centiminutes), 0) FROM order_bookings`).Scan(&booked); err != nil {
		e.t.Fatal(err)
	}
	if booked != sum || sum == 0 {
		e.t.Errorf("orders booked %d centiminutes, the load holds %d", booked, sum)
	}
}

func TestCancelledBeforePlaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	e.publishEvent(contracts.OrderCancelled, "late-1", contracts.OrderStatusChangedV1{OrderID: "late-1", Channel: contracts.ChannelAPI, At: monday})
	e.place(newOrder("late-1", bracketLine(1, 10, "")))
	// Both go to the same inbox worker (same key), in order; wait until the
	// second is processed.
	testenv.Eventually(t, wait, func() error {
		var n int
		if err := e.calc.DB.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM inbox WHERE consumer = 'mes-calc-orders'`).Scan(&n); err != nil {
			return err
		}
		if n != 2 {
			return fmt.Errorf("%d of 2 messages processed", n)
		}
		return nil
	})
	var c struct {
		Status string `json:"status"`
	}
	if code := e.api("GET", "/pricing/calculations/late-1", identity.RoleAdmin, nil, &c); code != 200 || c.Status != "cancelled" {
		t.Errorf("calculation: %d %+v", code, c)
	}
	if got := e.booked(); got != 0 {
		t.Errorf("a cancelled order booked %d", got)
	}
	e.watch.mu.Lock()
	defer e.watch.mu.Unlock()
	if len(e.watch.priced["late-1"]) != 0 || len(e.watch.review["late-1"]) != 0 {
		t.Errorf("a cancelled order was priced: %v %v", e.watch.priced["late-1"], e.watch.review["late-1"])
	}
	if code := e.api("GET", "/pricing/calculations/nobody", identity.RoleAdmin, nil, nil); code != 404 {
		t.Errorf("unknown calculation: %d", code)
	}
}
