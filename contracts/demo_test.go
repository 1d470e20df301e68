package contracts

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestDemoPriceListValidates(t *testing.T) {
	t.Parallel()
	pl := DemoPriceList(time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC))
	if err := pl.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if pl.Version != 1 || pl.Currency != "EUR" {
		t.Fatalf("version %d currency %q, want 1 EUR", pl.Version, pl.Currency)
	}
	for _, pr := range pl.Products {
		for _, f := range pr.Finishes {
			if _, ok := pl.finish(f); !ok {
				t.Errorf("product %s: unknown finish %q", pr.Code, f)
			}
		}
	}
	for _, f := range pl.Finishes {
		if f.Workstation == "" {
			continue
		}
		if _, ok := pl.workstation(f.Workstation); !ok {
			t.Errorf("finish %s: unknown workstation %q", f.Code, f.Workstation)
		}
	}
}

func TestDemoPriceListQuotesEveryProduct(t *testing.T) {
	t.Parallel()
	pl := DemoPriceList(time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC))
	for _, pr := range pl.Products {
		for _, mat := range pr.Materials {
			for _, fin := range pr.Finishes {
				for _, lead := range []string{LeadStandard, LeadRush} {
					c := Config{Product: pr.Code, Quantity: 10, Lead: lead, Options: map[string]string{
						OptMaterial: mat, OptFinish: fin,
						OptWidth:     fmtMM(mid(pr.Width)),
						OptHeight:    fmtMM(mid(pr.Height)),
						OptThickness: fmtMM(pr.Thickness.Min),
					}}
					q, err := pl.Quote(c)
					if err != nil {
						t.Fatalf("%s %s %s %s: %v", pr.Code, mat, fin, lead, err)
					}
					if q.UnitPrice < pl.MinimumUnitPrice || q.Total != q.UnitPrice*10 {
						t.Errorf("%s %s %s %s: unit %d total %d", pr.Code, mat, fin, lead, q.UnitPrice, q.Total)
					}
					if len(q.Routing) < len(pr.Operations) {
						t.Errorf("%s: routing has %d steps, want >= %d", pr.Code, len(q.Routing), len(pr.Operations))
					}
					if len(q.Breaks) != len(pl.QuantityBreaks) {
						t.Errorf("%s: %d breaks, want %d", pr.Code, len(q.Breaks), len(pl.QuantityBreaks))
					}
				}
			}
		}
	}
}

func TestDemoPriceListBracketCostsAFewEuros(t *testing.T) {
	t.Parallel()
	pl := DemoPriceList(time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC))
	q, err := pl.Quote(Config{Product: "laser_cut_sheet", Quantity: 10, Lead: LeadStandard, Options: map[string]string{
		OptMaterial: "steel_s235", OptWidth: "200", OptHeight: "100", OptThickness: "2",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if q.UnitPrice < 200 || q.UnitPrice > 1000 {
		t.Fatalf("bracket unit price %d cents, want a few euros", q.UnitPrice)
	}
	if q.LeadDays != 10 || len(q.Routing) != 3 {
		t.Fatalf("lead %d routing %v", q.LeadDays, q.Routing)
	}
	if _, err := pl.Quote(Config{Product: "laser_cut_sheet", Quantity: 10, Options: map[string]string{
		OptMaterial: "pla", OptWidth: "200", OptHeight: "100", OptThickness: "2",
	}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("pla laser part: err %v, want invalid", err)
	}
}

func mid(r Range) float64 { return (r.Min + r.Max) / 2 }

func fmtMM(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
