package calc_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/cputime"
	"github.com/fabrika/fabrika/services/mes-calc/internal/calc"
)

// monday is a Monday morning: today is Monday, production starts Tuesday.
var monday = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

func priceList() contracts.PriceListV1 { return contracts.DemoPriceList(monday.Add(-time.Hour)) }

func bracket(qty int, lead string) contracts.LineItem {
	return contracts.LineItem{LineNo: 1, Product: "laser_cut_sheet", Quantity: qty, Lead: lead, Options: map[string]string{
		contracts.OptMaterial: "steel_s235", contracts.OptWidth: "200", contracts.OptHeight: "100", contracts.OptThickness: "2",
	}}
}

func order(lines ...contracts.LineItem) contracts.OrderPlacedV1 {
	return contracts.OrderPlacedV1{OrderID: "o-1", Number: "S-1", Channel: contracts.ChannelShop, Currency: "EUR",
		Customer: contracts.Customer{ID: "c-1"}, Lines: lines, PlacedAt: monday}
}

// bigHorizon lets the property tests schedule even a thousand solid
// printed blocks; the horizon itself is tested apart.
const bigHorizon = 100_000

func calculate(t *testing.T, o contracts.OrderPlacedV1, load calc.Load) calc.Result {
	t.Helper()
	if load == nil {
		load = calc.NewMemory(priceList())
	}
	r, err := calc.Calculate(calc.Input{PriceList: priceList(), Order: o, Now: monday, HorizonDays: bigHorizon}, load)
	if err != nil {
		t.Fatalf("Calculate: %v", err)
	}
	return r
}

func TestCalculatePricesAndRoutes(t *testing.T) {
	t.Parallel()
	pl := priceList()
	cases := []struct {
		name      string
		lines     []contracts.LineItem
		wantSteps []string // line:operation@workstation
		wantShip  string
		wantRush  bool
	}{
		{
			name:      "steel bracket, standard lead: ten working days",
			lines:     []contracts.LineItem{bracket(10, contracts.LeadStandard)},
			wantSteps: []string{"1:laser_cut@laser", "1:bend@press_brake", "1:inspect@inspection"},
			wantShip:  "2026-03-16", // Monday + 10 working days
		},
		{
			name:      "rush bracket: four working days",
			lines:     []contracts.LineItem{bracket(10, contracts.LeadRush)},
			wantSteps: []string{"1:laser_cut@laser", "1:bend@press_brake", "1:inspect@inspection"},
			wantShip:  "2026-03-06",
			wantRush:  true,
		},
		{
			name: "two lines with a finish step",
			lines: []contracts.LineItem{bracket(10, contracts.LeadRush), {LineNo: 2, Product: "printed_3d_part", Quantity: 3, Lead: contracts.LeadRush,
				Options: map[string]string{contracts.OptMaterial: "pla", contracts.OptFinish: "paint", contracts.OptWidth: "50", contracts.OptHeight: "50", contracts.OptThickness: "20"}}},
			wantSteps: []string{"1:laser_cut@laser", "1:bend@press_brake", "1:inspect@inspection", "2:print@printer", "2:post_process@finishing", "2:finish_paint@finishing"},
			wantShip:  "2026-03-06",
			wantRush:  true,
		},
		{
			name: "a big batch takes longer than the lead: ship after the last step",
			lines: []contracts.LineItem{{LineNo: 1, Product: "assembled_item", Quantity: 2000, Lead: contracts.LeadRush, Options: map[string]string{
				contracts.OptMaterial: "steel_s235", contracts.OptWidth: "300", contracts.OptHeight: "300", contracts.OptThickness: "2"}}},
			wantSteps: []string{"1:assemble@assembly", "1:inspect@inspection"},
			// 24,015 min of assembly at 480 min a day: 51 working days from
			// Tuesday 3 March to Tuesday 12 May; then 4,010 min of inspection
			// from 12 May to Friday 22 May; shipped the next working day.
			wantShip: "2026-05-25",
			wantRush: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := calculate(t, order(tc.lines...), nil)
			if r.Review != "" {
				t.Fatalf("needs review: %s", r.Review)
			}
			p := r.Priced
			if err := p.Validate(); err != nil {
				t.Fatalf("priced does not validate: %v", err)
			}
			var steps []string
			for _, s := range p.Routing {
				steps = append(steps, fmt.Sprintf("%d:%s@%s", s.LineNo, s.Operation, s.Workstation))
			}
			if !reflect.DeepEqual(steps, tc.wantSteps) {
				t.Errorf("routing %v, want %v", steps, tc.wantSteps)
			}
			var total int64
			for i, l := range tc.lines {
				q, err := pl.Quote(contracts.Config{Product: l.Product, Options: l.Options, Quantity: l.Quantity, Lead: l.Lead})
				if err != nil {
					t.Fatal(err)
				}
				if p.Lines[i].UnitPrice != q.UnitPrice || p.Lines[i].Total != q.Total || p.Lines[i].LineNo != l.LineNo {
					t.Errorf("line %d priced %+v, quote %d x %d", l.LineNo, p.Lines[i], q.UnitPrice, l.Quantity)
				}
				total += q.Total
			}
			if p.Total != total || p.Currency != "EUR" || p.PriceListVersion != 1 {
				t.Errorf("total %d %s v%d, want %d EUR v1", p.Total, p.Currency, p.PriceListVersion, total)
			}
			if p.ShipDate != tc.wantShip || p.Rush != tc.wantRush {
				t.Errorf("ship %s rush %v, want %s %v", p.ShipDate, p.Rush, tc.wantShip, tc.wantRush)
			}
			var booked, planned int64
			for _, b := range r.Bookings {
				booked += b.Centiminutes
				if !b.Day.Working() {
					t.Errorf("booking on a weekend: %+v", b)
				}
			}
			for _, s := range p.Routing {
				planned += calc.Centiminutes(s.PlannedMinutes)
			}
			if booked != planned {
				t.Errorf("booked %d centiminutes, routing plans %d", booked, planned)
			}
		})
	}
}

func TestCalculateNeedsReview(t *testing.T) {
	t.Parallel()
	withOpt := func(k, v string) contracts.LineItem {
		l := bracket(10, contracts.LeadStandard)
		l.Options = map[string]string{}
		for kk, vv := range bracket(1, "").Options {
			l.Options[kk] = vv
		}
		l.Options[k] = v
		return l
	}
	cases := []struct {
		name string
		line contracts.LineItem
		o    func(*contracts.OrderPlacedV1)
		want string
	}{
		{"unknown product", contracts.LineItem{LineNo: 1, Product: "rocket", Quantity: 1}, nil, `line 1: unknown product "rocket"`},
		{"unknown material", withOpt(contracts.OptMaterial, "unobtainium"), nil, `line 1: material "unobtainium" is not available`},
		{"width out of the product range", withOpt(contracts.OptWidth, "3500"), nil, "line 1: width_mm must be between 10 and 3000 mm"},
		{"thickness not a number", withOpt(contracts.OptThickness, "thick"), nil, `line 1: thickness_mm "thick" is not a number`},
		{"absurd quantity", bracket(1_000_000, ""), nil, "line 1: quantity must be between 1 and 10000"},
		{"unknown lead", bracket(5, "yesterday"), nil, "line 1: lead must be"},
		{"other currency", bracket(5, ""), func(o *contracts.OrderPlacedV1) { o.Currency = "USD" }, "order currency USD differs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := order(tc.line)
			if tc.o != nil {
				tc.o(&o)
			}
			r := calculate(t, o, nil)
			if r.Priced != nil || !strings.Contains(r.Review, tc.want) {
				t.Fatalf("review %q priced %v, want %q", r.Review, r.Priced, tc.want)
			}
			if len(r.Bookings) != 0 {
				t.Fatalf("a reviewed order booked %v", r.Bookings)
			}
		})
	}
}

func TestCalculateMachineLimits(t *testing.T) {
	t.Parallel()
	pl := priceList()
	// The press brake bends up to 12 mm; let the product accept 20 mm sheet.
	pl.Products[0].Thickness.Max = 20
	pl.Products[0].Height.Max = 3000
	cases := []struct {
		w, h, t string
		want    string
	}{
		{"200", "100", "15", "thickness 15 mm exceeds the Press brake limit of 12 mm"},
		{"2000", "2000", "2", "2000 x 2000 mm exceeds the Fibre laser cutter limit of 3000 x 1500 mm"},
		{"1400", "2900", "2", ""}, // turned on the table it fits
	}
	for _, tc := range cases {
		l := bracket(1, "")
		l.Options = map[string]string{contracts.OptMaterial: "steel_s235", contracts.OptWidth: tc.w, contracts.OptHeight: tc.h, contracts.OptThickness: tc.t}
		r, err := calc.Calculate(calc.Input{PriceList: pl, Order: order(l), Now: monday}, calc.NewMemory(pl))
		if err != nil {
			t.Fatal(err)
		}
		if tc.want == "" && r.Review != "" || tc.want != "" && !strings.Contains(r.Review, tc.want) {
			t.Errorf("%sx%sx%s: review %q, want %q", tc.w, tc.h, tc.t, r.Review, tc.want)
		}
	}
}

func TestScheduleFollowsTheLoad(t *testing.T) {
	t.Parallel()
	pl := priceList()
	capacity := calc.Centiminutes(8 * 60)
	// The press brake is full from Tuesday to the Friday of the next week.
	load := calc.NewMemory(pl)
	tue := calc.DayOf(monday) + 1
	for d := tue; d < tue+11; d++ {
		load.Add([]calc.Booking{{Workstation: "press_brake", Day: d, Centiminutes: capacity}})
	}
	r := calculate(t, order(bracket(10, contracts.LeadRush)), load)
	if r.Review != "" {
		t.Fatal(r.Review)
	}
	want := map[string]string{"laser": "2026-03-03", "press_brake": "2026-03-16", "inspection": "2026-03-16"}
	for _, b := range r.Bookings {
		if got := b.Day.String(); got != want[b.Workstation] {
			t.Errorf("%s booked on %s, want %s", b.Workstation, got, want[b.Workstation])
		}
	}
	if r.Priced.ShipDate != "2026-03-17" || r.Priced.LeadDays != 11 {
		t.Errorf("ship %s lead %d, want 2026-03-17 in 11 working days", r.Priced.ShipDate, r.Priced.LeadDays)
	}

	// A day with 10 free minutes takes 10 of the step's minutes, the rest
	// goes to the next working day.
	load = calc.NewMemory(pl)
	load.Add([]calc.Booking{{Workstation: "press_brake", Day: tue, Centiminutes: capacity - 1000}})
	r = calculate(t, order(bracket(100, contracts.LeadRush)), load)
	var onTue, onWed int64
	for _, b := range r.Bookings {
		if b.Workstation == "press_brake" {
			switch b.Day {
			case tue:
				onTue += b.Centiminutes
			case tue + 1:
				onWed += b.Centiminutes
			}
		}
	}
	if onTue != 1000 || onWed != calc.Centiminutes(10+0.4*100)-1000 {
		t.Errorf("press brake: %d on Tuesday, %d on Wednesday", onTue, onWed)
	}
}

func TestScheduleHorizon(t *testing.T) {
	t.Parallel()
	l := contracts.LineItem{LineNo: 1, Product: "assembled_item", Quantity: 10000, Lead: "", Options: map[string]string{
		contracts.OptMaterial: "steel_s235", contracts.OptWidth: "300", contracts.OptHeight: "300", contracts.OptThickness: "2"}}
	r, err := calc.Calculate(calc.Input{PriceList: priceList(), Order: order(l), Now: monday, HorizonDays: 20}, calc.NewMemory(priceList()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Review, "Assembly bench has no free capacity before") {
		t.Fatalf("review %q", r.Review)
	}
}

func TestDays(t *testing.T) {
	t.Parallel()
	fri := calc.DayOf(time.Date(2026, 3, 6, 23, 59, 0, 0, time.UTC))
	if fri.String() != "2026-03-06" || !fri.Working() || (fri + 1).Working() {
		t.Fatalf("friday %s", fri)
	}
	if got := fri.NextWorking().String(); got != "2026-03-09" {
		t.Errorf("after Friday %s", got)
	}
	if got := fri.AddWorking(6).String(); got != "2026-03-16" {
		t.Errorf("Friday + 6 %s", got)
	}
	if n := calc.WorkingDaysBetween(fri, fri.AddWorking(6)); n != 6 {
		t.Errorf("between %d", n)
	}
	// The fast paths agree with counting day by day.
	for from := fri - 10; from < fri+10; from++ {
		for n := 0; n < 40; n++ {
			want := from
			for range n {
				want = want.NextWorking()
			}
			if got := from.AddWorking(n); got != want {
				t.Fatalf("%s + %d working days = %s, want %s", from, n, got, want)
			}
			to := from + calc.Day(n)
			count := 0
			for d := from + 1; d <= to; d++ {
				if d.Working() {
					count++
				}
			}
			if got := calc.WorkingDaysBetween(from, to); got != count {
				t.Fatalf("working days in (%s, %s] = %d, want %d", from, to, got, count)
			}
		}
	}
}

// randomLine draws a line of any product with options in its ranges.
func randomLine(r *rand.Rand, pl contracts.PriceListV1, maxQty int) contracts.LineItem {
	p := pl.Products[r.IntN(len(pl.Products))]
	in := func(rg contracts.Range) string {
		v := rg.Min + r.Float64()*(rg.Max-rg.Min)
		return strconv.FormatFloat(float64(int(v*10))/10+0.0, 'f', 1, 64)
	}
	clamp := func(s string, rg contracts.Range) string {
		v, _ := strconv.ParseFloat(s, 64)
		if v < rg.Min {
			return strconv.FormatFloat(rg.Min, 'f', -1, 64)
		}
		return s
	}
	lead := contracts.LeadStandard
	if r.IntN(2) == 0 {
		lead = contracts.LeadRush
	}
	return contracts.LineItem{LineNo: 1, Product: p.Code, Quantity: 1 + r.IntN(maxQty), Lead: lead, Options: map[string]string{
		contracts.OptMaterial:  p.Materials[r.IntN(len(p.Materials))],
		contracts.OptFinish:    p.Finishes[r.IntN(len(p.Finishes))],
		contracts.OptWidth:     clamp(in(p.Width), p.Width),
		contracts.OptHeight:    clamp(in(p.Height), p.Height),
		contracts.OptThickness: clamp(in(p.Thickness), p.Thickness),
	}}
}

func unitPrice(t *testing.T, pl contracts.PriceListV1, l contracts.LineItem) int64 {
	t.Helper()
	r, err := calc.Calculate(calc.Input{PriceList: pl, Order: order(l), Now: monday, HorizonDays: bigHorizon}, calc.NewMemory(pl))
	if err != nil {
		t.Fatal(err)
	}
	if r.Priced == nil {
		t.Fatalf("%+v: review %s", l, r.Review)
	}
	return r.Priced.Lines[0].UnitPrice
}

var quickCfg = &quick.Config{MaxCount: 300}

func TestPropertyNeverBelowMinimum(t *testing.T) {
	t.Parallel()
	pl := priceList()
	pl.MinimumUnitPrice = 2000 // high enough to bind for small parts
	f := func(seed uint64) bool {
		l := randomLine(rand.New(rand.NewPCG(seed, 1)), pl, 300)
		return unitPrice(t, pl, l) >= pl.MinimumUnitPrice
	}
	if err := quick.Check(f, quickCfg); err != nil {
		t.Fatal(err)
	}
}

func TestPropertyUnitPriceNonIncreasingInQuantity(t *testing.T) {
	t.Parallel()
	pl := priceList()
	f := func(seed uint64, extra uint16) bool {
		l := randomLine(rand.New(rand.NewPCG(seed, 2)), pl, 300)
		more := l
		more.Quantity = min(l.Quantity+1+int(extra)%5000, pl.MaxQuantity)
		return unitPrice(t, pl, more) <= unitPrice(t, pl, l)
	}
	if err := quick.Check(f, quickCfg); err != nil {
		t.Fatal(err)
	}
}

func TestPropertyRushNeverCheaperNorLater(t *testing.T) {
	t.Parallel()
	pl := priceList()
	f := func(seed uint64) bool {
		l := randomLine(rand.New(rand.NewPCG(seed, 3)), pl, 300)
		std, rush := l, l
		std.Lead, rush.Lead = contracts.LeadStandard, contracts.LeadRush
		rs := calculate(t, order(std), nil)
		rr := calculate(t, order(rush), nil)
		if rs.Priced == nil || rr.Priced == nil {
			t.Fatalf("%+v: review %q %q", l, rs.Review, rr.Review)
		}
		return rr.Priced.Lines[0].UnitPrice >= rs.Priced.Lines[0].UnitPrice && rr.Priced.ShipDate <= rs.Priced.ShipDate
	}
	if err := quick.Check(f, quickCfg); err != nil {
		t.Fatal(err)
	}
}

func TestPropertyDeterministic(t *testing.T) {
	t.Parallel()
	pl := priceList()
	f := func(seed uint64) bool {
		r := rand.New(rand.NewPCG(seed, 4))
		o := order(randomLine(r, pl, 300), randomLine(r, pl, 300))
		o.Lines[1].LineNo = 2
		load := calc.NewMemory(pl)
		for range 20 {
			ws := pl.Workstations[r.IntN(len(pl.Workstations))].Code
			load.Add([]calc.Booking{{Workstation: ws, Day: calc.DayOf(monday) + calc.Day(r.IntN(30)), Centiminutes: int64(r.IntN(50000))}})
		}
		a := calculate(t, o, load)
		b := calculate(t, o, load)
		return reflect.DeepEqual(a, b)
	}
	if err := quick.Check(f, quickCfg); err != nil {
		t.Fatal(err)
	}
}

func TestPropertyNeverOverbooks(t *testing.T) {
	t.Parallel()
	pl := priceList()
	r := rand.New(rand.NewPCG(7, 7))
	load := calc.NewMemory(pl)
	load.Start(calc.DayOf(monday).NextWorking())
	for i := range 200 {
		o := order(randomLine(r, pl, 300))
		o.OrderID = fmt.Sprint("o-", i)
		res := calculate(t, o, load)
		if res.Priced == nil {
			t.Fatalf("review: %s", res.Review)
		}
		load.Add(res.Bookings)
	}
	for _, ws := range pl.Workstations {
		capacity := calc.Centiminutes(ws.HoursPerDay * 60)
		for d, v := range load.Days(ws.Code) {
			if v > capacity || !d.Working() {
				t.Errorf("%s on %s: %d of %d centiminutes", ws.Code, d, v, capacity)
			}
		}
	}
}

func BenchmarkCalculate(b *testing.B) {
	pl := priceList()
	r := rand.New(rand.NewPCG(1, 1))
	orders := make([]contracts.OrderPlacedV1, 256)
	for i := range orders {
		orders[i] = order(smallLine(r, pl), smallLine(r, pl))
		orders[i].Lines[1].LineNo = 2
	}
	load := calc.NewMemory(pl)
	load.Start(calc.DayOf(monday).NextWorking())
	b.ReportAllocs()
	cpu0 := cputime.Process()
	for i := 0; b.Loop(); i++ {
		res, err := calc.Calculate(calc.Input{PriceList: pl, Order: orders[i%len(orders)], Now: monday, HorizonDays: bigHorizon}, load)
		if err != nil || res.Priced == nil {
			b.Fatal(err, res.Review)
		}
		load.Add(res.Bookings)
		if i%5000 == 4999 { // a fresh plant now and then: the queue stays within the horizon
			load = calc.NewMemory(pl)
			load.Start(calc.DayOf(monday).NextWorking())
		}
	}
	cpu := cputime.Process() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
	// CPU time says more than wall time on a shared machine.
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "orders/cpu-s")
}

// smallLine is a typical order line: a part in the lower fifth of its
// product's ranges, 1 to 50 off.
func smallLine(r *rand.Rand, pl contracts.PriceListV1) contracts.LineItem {
	l := randomLine(r, pl, 50)
	p, _ := pl.Product(l.Product)
	for code, rg := range map[string]contracts.Range{contracts.OptWidth: p.Width, contracts.OptHeight: p.Height, contracts.OptThickness: p.Thickness} {
		l.Options[code] = strconv.FormatFloat(rg.Min+r.Float64()*(rg.Max-rg.Min)/5, 'f', 1, 64)
	}
	return l
}
