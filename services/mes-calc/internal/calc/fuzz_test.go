package calc_test

import (
	"strings"
	"testing"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/services/mes-calc/internal/calc"
)

// FuzzCalculate feeds arbitrary option strings, quantities and leads: the
// calculation must never panic, and either needs review with a reason
// naming the line, or prices within the list's rules and books exactly the
// routing's minutes.
func FuzzCalculate(f *testing.F) {
	f.Add("laser_cut_sheet", "steel_s235", "", "200", "100", "2", 10, "standard")
	f.Add("printed_3d_part", "pla", "paint", "50", "50", "20", 3, "rush")
	f.Add("cnc_milled_part", "alu_6082", "anodise", "1e3", "NaN", "-1", 0, "")
	f.Add("assembled_item", "steel_s235", "none", "0x10", "Inf", "3", 1_000_000, "yesterday")
	f.Add("", "", "", "", "", "", -5, "")
	pl := priceList()
	f.Fuzz(func(t *testing.T, product, material, finish, w, h, th string, qty int, lead string) {
		o := order(contracts.LineItem{LineNo: 1, Product: product, Quantity: qty, Lead: lead, Options: map[string]string{
			contracts.OptMaterial: material, contracts.OptFinish: finish, contracts.OptWidth: w, contracts.OptHeight: h, contracts.OptThickness: th}})
		r, err := calc.Calculate(calc.Input{PriceList: pl, Order: o, Now: monday, HorizonDays: 100}, calc.NewMemory(pl))
		if err != nil {
			t.Fatal(err)
		}
		if r.Priced == nil {
			if !strings.HasPrefix(r.Review, "line 1: ") || len(r.Bookings) != 0 {
				t.Fatalf("review %q with %d bookings", r.Review, len(r.Bookings))
			}
			return
		}
		p := r.Priced
		if p.Validate() != nil || p.Lines[0].UnitPrice < pl.MinimumUnitPrice || p.Total != p.Lines[0].UnitPrice*int64(qty) || qty < 1 || qty > pl.MaxQuantity {
			t.Fatalf("priced %+v", p)
		}
		var booked, planned int64
		for _, b := range r.Bookings {
			booked += b.Centiminutes
		}
		for _, s := range p.Routing {
			planned += calc.Centiminutes(s.PlannedMinutes)
		}
		if booked != planned {
			t.Fatalf("booked %d, planned %d", booked, planned)
		}
	})
}
