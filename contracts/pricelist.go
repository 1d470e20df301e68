package contracts

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// PriceListV1 is the price list and the production rules, owned by mes-calc
// and published on every change as "pricelist.published". The shop and mes-api
// keep a read-only copy and quote from it with Quote, so quoting never calls
// the MES. Money is in minor units of Currency.
type PriceListV1 struct {
	Version          int64         `json:"version"`
	Currency         string        `json:"currency"`
	PublishedAt      time.Time     `json:"published_at"`
	MarginPct        float64       `json:"margin_pct"`         // 35 means cost x 1.35
	MinimumUnitPrice int64         `json:"minimum_unit_price"` // floor of a unit price
	RushMultiplier   float64       `json:"rush_multiplier"`    // >= 1
	StandardLeadDays int           `json:"standard_lead_days"`
	RushLeadDays     int           `json:"rush_lead_days"`
	MaxQuantity      int           `json:"max_quantity"`
	QuantityBreaks   []int         `json:"quantity_breaks"`
	Materials        []Material    `json:"materials"`
	Finishes         []Finish      `json:"finishes"`
	Workstations     []Workstation `json:"workstations"`
	Products         []Product     `json:"products"`
}

// Material is a raw material and what it costs.
type Material struct {
	Code        string  `json:"code"`
	Name        string  `json:"name"`
	DensityKgM3 float64 `json:"density_kg_m3"`
	CostPerKg   int64   `json:"cost_per_kg"`
}

// Finish is a surface finish, priced by area.
type Finish struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	CostPerM2 int64  `json:"cost_per_m2"`
	// Operation, when set, adds a finishing step on that workstation.
	Workstation string  `json:"workstation,omitempty"`
	Minutes     float64 `json:"minutes,omitempty"` // run minutes per unit
}

// Workstation is a machine or a bench with its hourly rate and daily capacity.
type Workstation struct {
	Code          string  `json:"code"`
	Name          string  `json:"name"`
	HourlyRate    int64   `json:"hourly_rate"`
	HoursPerDay   float64 `json:"hours_per_day"`
	MaxWidthMM    float64 `json:"max_width_mm,omitempty"`
	MaxHeightMM   float64 `json:"max_height_mm,omitempty"`
	MaxThicknessM float64 `json:"max_thickness_mm,omitempty"`
}

// Range bounds a dimension in millimetres.
type Range struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// Operation is one step of a product's routing. Its run time per unit is
// RunMinutes + PerDm2 x area in dm2 + PerCm3 x volume in cm3.
type Operation struct {
	Code         string  `json:"code"`
	Name         string  `json:"name"`
	Workstation  string  `json:"workstation"`
	SetupMinutes float64 `json:"setup_minutes"`
	RunMinutes   float64 `json:"run_minutes"`
	PerDm2       float64 `json:"per_dm2,omitempty"`
	PerCm3       float64 `json:"per_cm3,omitempty"`
}

// Product is what a customer configures: a kind of part with the materials,
// finishes and dimension ranges it accepts and the operations that make it.
type Product struct {
	Code        string      `json:"code"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Materials   []string    `json:"materials"`
	Finishes    []string    `json:"finishes"`
	Width       Range       `json:"width_mm"`
	Height      Range       `json:"height_mm"`
	Thickness   Range       `json:"thickness_mm"`
	Operations  []Operation `json:"operations"`
}

// Validate checks the contract.
func (p PriceListV1) Validate() error {
	if err := cleanText(p); err != nil {
		return err
	}
	if p.Version <= 0 {
		return invalid("version must be positive")
	}
	if err := require(str("currency", p.Currency), when("published_at", p.PublishedAt)); err != nil {
		return err
	}
	if len(p.Products) == 0 || len(p.Materials) == 0 || len(p.Workstations) == 0 {
		return invalid("products, materials and workstations are required")
	}
	if p.RushMultiplier < 1 || p.MarginPct < 0 || p.MinimumUnitPrice < 0 || p.MaxQuantity <= 0 {
		return invalid("rush multiplier >= 1, margin >= 0, minimum >= 0 and max quantity > 0 are required")
	}
	for _, pr := range p.Products {
		for _, op := range pr.Operations {
			if _, ok := p.workstation(op.Workstation); !ok {
				return invalid("product %s: operation %s uses unknown workstation %q", pr.Code, op.Code, op.Workstation)
			}
		}
		for _, m := range pr.Materials {
			if _, ok := p.material(m); !ok {
				return invalid("product %s: unknown material %q", pr.Code, m)
			}
		}
	}
	return nil
}

// Product returns the product with the code.
func (p PriceListV1) Product(code string) (Product, bool) {
	i := slices.IndexFunc(p.Products, func(x Product) bool { return x.Code == code })
	if i < 0 {
		return Product{}, false
	}
	return p.Products[i], true
}

func (p PriceListV1) material(code string) (Material, bool) {
	i := slices.IndexFunc(p.Materials, func(x Material) bool { return x.Code == code })
	if i < 0 {
		return Material{}, false
	}
	return p.Materials[i], true
}

func (p PriceListV1) finish(code string) (Finish, bool) {
	i := slices.IndexFunc(p.Finishes, func(x Finish) bool { return x.Code == code })
	if i < 0 {
		return Finish{}, false
	}
	return p.Finishes[i], true
}

func (p PriceListV1) workstation(code string) (Workstation, bool) {
	i := slices.IndexFunc(p.Workstations, func(x Workstation) bool { return x.Code == code })
	if i < 0 {
		return Workstation{}, false
	}
	return p.Workstations[i], true
}

// Lead options.
const (
	LeadStandard = "standard"
	LeadRush     = "rush"
)

// Option codes of a configured part.
const (
	OptMaterial  = "material"
	OptFinish    = "finish"
	OptWidth     = "width_mm"
	OptHeight    = "height_mm"
	OptThickness = "thickness_mm"
)

// OptionCodes lists every option code a configured part may carry; an order
// with any other key is refused where it enters.
func OptionCodes() []string {
	return []string{OptMaterial, OptFinish, OptWidth, OptHeight, OptThickness}
}

// QuoteError says which option of a configuration is wrong and why; Field is
// the option code (or "product", "quantity", "lead").
type QuoteError struct {
	Field   string
	Message string
}

func (e *QuoteError) Error() string { return e.Field + ": " + e.Message }

// Is makes every QuoteError match ErrInvalid.
func (e *QuoteError) Is(target error) bool { return target == ErrInvalid }

// Config is a part as a customer configures it; its JSON is a line of the
// order requests of the shop and the B2B API (the shop's idempotency hash
// of a request is taken over it: keep the names and their order).
type Config struct {
	Product  string            `json:"product"`
	Options  map[string]string `json:"options"`
	Quantity int               `json:"quantity"`
	Lead     string            `json:"lead,omitempty"`
}

// Break is the unit price at a quantity.
type Break struct {
	Quantity  int   `json:"quantity"`
	UnitPrice int64 `json:"unit_price"`
}

// Quote is the price of a configured part under a price list.
type Quote struct {
	PriceListVersion int64         `json:"price_list_version"`
	Currency         string        `json:"currency"`
	UnitCost         int64         `json:"unit_cost"`
	UnitPrice        int64         `json:"unit_price"`
	Total            int64         `json:"total"`
	LeadDays         int           `json:"lead_days"`
	Breaks           []Break       `json:"breaks"`
	Routing          []RoutingStep `json:"routing"`
}

// part is a validated configuration.
type part struct {
	product  Product
	material Material
	finish   *Finish
	w, h, t  float64 // mm
	qty      int
	rush     bool
}

// Quote prices a configured part. It is pure and deterministic: the shop,
// mes-api and mes-calc get the same figures from the same price list. An
// invalid configuration gives a *QuoteError naming the field.
func (p PriceListV1) Quote(c Config) (Quote, error) {
	pt, err := p.parse(c)
	if err != nil {
		return Quote{}, err
	}
	q := Quote{PriceListVersion: p.Version, Currency: p.Currency, LeadDays: p.StandardLeadDays}
	if pt.rush {
		q.LeadDays = p.RushLeadDays
	}
	q.UnitCost, q.UnitPrice = p.unitPrice(pt, pt.qty)
	q.Total = q.UnitPrice * int64(pt.qty)
	for _, b := range p.QuantityBreaks {
		if b > p.MaxQuantity {
			continue
		}
		_, up := p.unitPrice(pt, b)
		q.Breaks = append(q.Breaks, Break{Quantity: b, UnitPrice: up})
	}
	q.Routing = p.routing(pt)
	return q, nil
}

func (p PriceListV1) parse(c Config) (part, error) {
	prod, ok := p.Product(c.Product)
	if !ok {
		return part{}, &QuoteError{"product", fmt.Sprintf("unknown product %q", c.Product)}
	}
	pt := part{product: prod, qty: c.Quantity}
	matCode := c.Options[OptMaterial]
	if !slices.Contains(prod.Materials, matCode) {
		return part{}, &QuoteError{OptMaterial, fmt.Sprintf("material %q is not available for %s", matCode, prod.Name)}
	}
	pt.material, _ = p.material(matCode)
	if fc := c.Options[OptFinish]; fc != "" && fc != "none" {
		f, ok := p.finish(fc)
		if !ok || !slices.Contains(prod.Finishes, fc) {
			return part{}, &QuoteError{OptFinish, fmt.Sprintf("finish %q is not available for %s", fc, prod.Name)}
		}
		pt.finish = &f
	}
	var err error
	if pt.w, err = dimension(c.Options, OptWidth, prod.Width); err != nil {
		return part{}, err
	}
	if pt.h, err = dimension(c.Options, OptHeight, prod.Height); err != nil {
		return part{}, err
	}
	if pt.t, err = dimension(c.Options, OptThickness, prod.Thickness); err != nil {
		return part{}, err
	}
	if c.Quantity < 1 || c.Quantity > p.MaxQuantity {
		return part{}, &QuoteError{"quantity", fmt.Sprintf("quantity must be between 1 and %d", p.MaxQuantity)}
	}
	switch c.Lead {
	case LeadStandard, "":
	case LeadRush:
		pt.rush = true
	default:
		return part{}, &QuoteError{"lead", fmt.Sprintf("lead must be %q or %q", LeadStandard, LeadRush)}
	}
	return pt, nil
}

func dimension(opts map[string]string, code string, r Range) (float64, error) {
	raw, ok := opts[code]
	if !ok || raw == "" {
		return 0, &QuoteError{code, "is required"}
	}
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, &QuoteError{code, fmt.Sprintf("%q is not a number", raw)}
	}
	if v < r.Min || v > r.Max {
		return 0, &QuoteError{code, fmt.Sprintf("must be between %g and %g mm", r.Min, r.Max)}
	}
	return v, nil
}

// unitPrice returns the unit cost and price at a quantity:
// cost = material + sum(rate x (setup/qty + run)) + finishing;
// price = max(minimum, cost x (1 + margin)) x rush multiplier.
func (p PriceListV1) unitPrice(pt part, qty int) (cost, price int64) {
	areaM2 := pt.w * pt.h / 1e6
	volM3 := areaM2 * pt.t / 1e3
	c := volM3 * pt.material.DensityKgM3 * float64(pt.material.CostPerKg)
	for _, op := range pt.product.Operations {
		ws, _ := p.workstation(op.Workstation)
		minutes := op.SetupMinutes/float64(qty) + runMinutes(op, pt)
		c += float64(ws.HourlyRate) * minutes / 60
	}
	if pt.finish != nil {
		c += 2 * areaM2 * float64(pt.finish.CostPerM2)
		if ws, ok := p.workstation(pt.finish.Workstation); ok {
			c += float64(ws.HourlyRate) * pt.finish.Minutes / 60
		}
	}
	cost = int64(math.Ceil(c))
	pr := math.Max(float64(p.MinimumUnitPrice), math.Ceil(c*(1+p.MarginPct/100)))
	if pt.rush {
		pr = math.Ceil(pr * p.RushMultiplier)
	}
	return cost, int64(pr)
}

func runMinutes(op Operation, pt part) float64 {
	areaDm2 := pt.w * pt.h / 1e4
	volCm3 := pt.w * pt.h * pt.t / 1e3
	return op.RunMinutes + op.PerDm2*areaDm2 + op.PerCm3*volCm3
}

func (p PriceListV1) routing(pt part) []RoutingStep {
	var steps []RoutingStep
	for i, op := range pt.product.Operations {
		steps = append(steps, RoutingStep{
			Seq: i + 1, Operation: op.Code, Workstation: op.Workstation,
			PlannedMinutes: round2(op.SetupMinutes + runMinutes(op, pt)*float64(pt.qty)),
		})
	}
	if pt.finish != nil && pt.finish.Workstation != "" {
		steps = append(steps, RoutingStep{
			Seq: len(steps) + 1, Operation: "finish_" + pt.finish.Code, Workstation: pt.finish.Workstation,
			PlannedMinutes: round2(pt.finish.Minutes * float64(pt.qty)),
		})
	}
	return steps
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// ErrNoPriceList is returned by a quoting service that has not yet received
// a price list.
var ErrNoPriceList = errors.New("no price list received yet")
