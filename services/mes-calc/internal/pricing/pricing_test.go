package pricing_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/text"
	"github.com/fabrika/fabrika/services/mes-calc/internal/pricing"
)

func demo() contracts.PriceListV1 {
	return contracts.DemoPriceList(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
}

func TestDemoPasses(t *testing.T) {
	t.Parallel()
	if err := pricing.Check(demo()); err != nil {
		t.Fatal(err)
	}
}

func TestChanges(t *testing.T) {
	t.Parallel()
	op := contracts.Operation{Code: "cut", Name: "Cut", Workstation: "laser", RunMinutes: 1}
	product := contracts.Product{Code: "plate", Name: "Plate", Materials: []string{"steel_s235"}, Finishes: []string{"none"},
		Width: contracts.Range{Min: 1, Max: 100}, Height: contracts.Range{Min: 1, Max: 100}, Thickness: contracts.Range{Min: 1, Max: 5},
		Operations: []contracts.Operation{op}}
	cases := []struct {
		name   string
		change pricing.Change
		field  string // "" when the change is valid
		found  bool   // false when ErrNotFound is expected
	}{
		{"new material", pricing.PutMaterial(contracts.Material{Code: "copper", Name: "Copper", DensityKgM3: 8960, CostPerKg: 900}), "", true},
		{"material without name", pricing.PutMaterial(contracts.Material{Code: "copper", DensityKgM3: 8960, CostPerKg: 900}), "name", true},
		{"material with a code in capitals", pricing.PutMaterial(contracts.Material{Code: "Copper", Name: "Copper", DensityKgM3: 1}), "code", true},
		{"negative cost", pricing.PutMaterial(contracts.Material{Code: "copper", Name: "Copper", DensityKgM3: 1, CostPerKg: -1}), "cost_per_kg", true},
		{"finish on a missing workstation", pricing.PutFinish(contracts.Finish{Code: "gild", Name: "Gilding", Workstation: "gilder", Minutes: 3}), "finishes.gild.workstation", true},
		{"finish minutes without workstation", pricing.PutFinish(contracts.Finish{Code: "gild", Name: "Gilding", Minutes: 3}), "workstation", true},
		{"workstation of 25 hours a day", pricing.PutWorkstation(contracts.Workstation{Code: "laser", Name: "Laser", HoursPerDay: 25}), "hours_per_day", true},
		{"new product", pricing.PutProduct(product), "", true},
		{"product with an unknown material", pricing.PutProduct(func() contracts.Product { p := product; p.Materials = []string{"gold"}; return p }()), "products.plate.materials", true},
		{"product with an unknown finish", pricing.PutProduct(func() contracts.Product { p := product; p.Finishes = []string{"chrome"}; return p }()), "products.plate.finishes", true},
		{"product with an upside-down range", pricing.PutProduct(func() contracts.Product { p := product; p.Width = contracts.Range{Min: 10, Max: 5}; return p }()), "width_mm", true},
		{"product with twice the same operation", pricing.PutProduct(func() contracts.Product {
			p := product
			p.Operations = []contracts.Operation{op, op}
			return p
		}()), "operations", true},
		{"product without operations", pricing.PutProduct(func() contracts.Product { p := product; p.Operations = nil; return p }()), "operations", true},
		{"settings", pricing.PutSettings(pricing.Settings{Currency: "EUR", MarginPct: 30, RushMultiplier: 1.2, StandardLeadDays: 5, RushLeadDays: 2, MaxQuantity: 10, QuantityBreaks: []int{1, 5}}), "", true},
		{"settings in lower-case currency", pricing.PutSettings(pricing.Settings{Currency: "eur", RushMultiplier: 1, StandardLeadDays: 5, RushLeadDays: 2, MaxQuantity: 10}), "currency", true},
		{"settings with breaks going down", pricing.PutSettings(pricing.Settings{Currency: "EUR", RushMultiplier: 1, StandardLeadDays: 5, RushLeadDays: 2, MaxQuantity: 10, QuantityBreaks: []int{10, 5}}), "quantity_breaks", true},
		{"rush cheaper than standard", pricing.PutSettings(pricing.Settings{Currency: "EUR", RushMultiplier: 0.8, StandardLeadDays: 5, RushLeadDays: 2, MaxQuantity: 10}), "rush_multiplier", true},
		{"delete a material in use", pricing.Delete("materials", "abs"), "products.printed_3d_part.materials", true},
		{"delete a workstation in use", pricing.Delete("workstations", "printer"), "products.printed_3d_part.operations[0].workstation", true},
		{"delete an unused finish", pricing.Delete("finishes", "anodise"), "products.laser_cut_sheet.finishes", true},
		{"delete a product", pricing.Delete("products", "assembled_item"), "", true},
		{"delete what is not there", pricing.Delete("materials", "gold"), "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := demo()
			next, err := tc.change(before)
			if err == nil {
				err = pricing.Check(next)
			}
			if !tc.found {
				if !errors.Is(err, pricing.ErrNotFound) {
					t.Fatalf("err %v, want not found", err)
				}
				return
			}
			var fe text.FieldErrors
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && !errors.As(err, &fe):
				t.Fatalf("err %v, want field errors naming %s", err, tc.field)
			case tc.field != "":
				if _, ok := fe[tc.field]; !ok {
					t.Fatalf("errors %v do not name %s", fe, tc.field)
				}
			}
			if after := demo(); len(before.Materials) != len(after.Materials) || before.Materials[0] != after.Materials[0] {
				t.Fatal("the change modified the list it was given")
			}
		})
	}
}

func TestPutReplacesInPlace(t *testing.T) {
	t.Parallel()
	pl := demo()
	next, err := pricing.PutMaterial(contracts.Material{Code: "stainless_304", Name: "Stainless 304", DensityKgM3: 8000, CostPerKg: 500})(pl)
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Materials) != len(pl.Materials) || next.Materials[1].CostPerKg != 500 || pl.Materials[1].CostPerKg != 450 {
		t.Fatalf("materials %v", next.Materials)
	}
}
