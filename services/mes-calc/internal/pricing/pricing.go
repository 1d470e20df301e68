// Package pricing holds the rules of changing mes-calc's price list: what a
// material, finish, workstation, product or the settings must look like,
// and how one change is applied to the whole list, which must stay valid.
// It is pure: the caller loads the list, applies a change here, and stores
// and publishes the result in one transaction.
package pricing

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/text"
)

// ErrNotFound is returned when a change names an entry that does not exist.
var ErrNotFound = errors.New("not found")

// Settings are the price list's terms as a whole.
type Settings struct {
	Currency         string  `json:"currency"`
	MarginPct        float64 `json:"margin_pct"`
	MinimumUnitPrice int64   `json:"minimum_unit_price"`
	RushMultiplier   float64 `json:"rush_multiplier"`
	StandardLeadDays int     `json:"standard_lead_days"`
	RushLeadDays     int     `json:"rush_lead_days"`
	MaxQuantity      int     `json:"max_quantity"`
	QuantityBreaks   []int   `json:"quantity_breaks"`
}

// SettingsOf returns the settings of a price list.
func SettingsOf(pl contracts.PriceListV1) Settings {
	return Settings{Currency: pl.Currency, MarginPct: pl.MarginPct, MinimumUnitPrice: pl.MinimumUnitPrice,
		RushMultiplier: pl.RushMultiplier, StandardLeadDays: pl.StandardLeadDays, RushLeadDays: pl.RushLeadDays,
		MaxQuantity: pl.MaxQuantity, QuantityBreaks: slices.Clone(pl.QuantityBreaks)}
}

var codeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_]{0,39}$`)

// Limits of sane values: a change beyond them is a typing mistake.
const (
	maxMoney    = 100_000_000 // one million in major units
	maxMinutes  = 100_000
	maxMM       = 100_000
	maxQuantity = 1_000_000
	maxLeadDays = 365
)

type checker struct{ errs text.FieldErrors }

func (c *checker) add(field, format string, args ...any) {
	if c.errs == nil {
		c.errs = text.FieldErrors{}
	}
	if _, ok := c.errs[field]; !ok {
		c.errs[field] = fmt.Sprintf(format, args...)
	}
}

func (c *checker) code(field, v string) {
	if !codeRE.MatchString(v) {
		c.add(field, "must be 1 to 40 lower-case letters, digits or _, starting with a letter or digit")
	}
}

func (c *checker) name(field, v string) {
	if strings.TrimSpace(v) == "" || len(v) > 200 {
		c.add(field, "is required (at most 200 characters)")
	}
}

func (c *checker) money(field string, v int64) {
	if v < 0 || v > maxMoney {
		c.add(field, "must be between 0 and %d (minor units)", maxMoney)
	}
}

func (c *checker) number(field string, v, lo, hi float64) {
	if math.IsNaN(v) || v < lo || v > hi {
		c.add(field, "must be between %g and %g", lo, hi)
	}
}

func (c *checker) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs
}

// CheckMaterial checks a material on its own.
func CheckMaterial(m contracts.Material) error {
	var c checker
	c.code("code", m.Code)
	c.name("name", m.Name)
	c.number("density_kg_m3", m.DensityKgM3, 1, 25_000)
	c.money("cost_per_kg", m.CostPerKg)
	return c.err()
}

// CheckFinish checks a finish on its own.
func CheckFinish(f contracts.Finish) error {
	var c checker
	c.code("code", f.Code)
	c.name("name", f.Name)
	c.money("cost_per_m2", f.CostPerM2)
	c.number("minutes", f.Minutes, 0, maxMinutes)
	if f.Workstation != "" {
		c.code("workstation", f.Workstation)
	}
	if f.Workstation == "" && f.Minutes > 0 {
		c.add("workstation", "is required when minutes are set")
	}
	return c.err()
}

// CheckWorkstation checks a workstation on its own.
func CheckWorkstation(w contracts.Workstation) error {
	var c checker
	c.code("code", w.Code)
	c.name("name", w.Name)
	c.money("hourly_rate", w.HourlyRate)
	c.number("hours_per_day", w.HoursPerDay, 0.5, 24)
	c.number("max_width_mm", w.MaxWidthMM, 0, maxMM)
	c.number("max_height_mm", w.MaxHeightMM, 0, maxMM)
	c.number("max_thickness_mm", w.MaxThicknessM, 0, maxMM)
	return c.err()
}

// CheckProduct checks a product on its own; its references are checked with
// the whole list by Check.
func CheckProduct(p contracts.Product) error {
	var c checker
	c.code("code", p.Code)
	c.name("name", p.Name)
	if len(p.Description) > 2000 {
		c.add("description", "must be at most 2000 characters")
	}
	if len(p.Materials) == 0 {
		c.add("materials", "at least one material is required")
	}
	for i, m := range p.Materials {
		c.code(fmt.Sprintf("materials[%d]", i), m)
	}
	if dup := duplicate(p.Materials); dup != "" {
		c.add("materials", "%q is listed twice", dup)
	}
	for i, f := range p.Finishes {
		c.code(fmt.Sprintf("finishes[%d]", i), f)
	}
	if dup := duplicate(p.Finishes); dup != "" {
		c.add("finishes", "%q is listed twice", dup)
	}
	for field, r := range map[string]contracts.Range{"width_mm": p.Width, "height_mm": p.Height, "thickness_mm": p.Thickness} {
		if math.IsNaN(r.Min) || math.IsNaN(r.Max) || r.Min <= 0 || r.Max < r.Min || r.Max > maxMM {
			c.add(field, "min must be positive and at most max (max at most %d mm)", maxMM)
		}
	}
	if len(p.Operations) == 0 || len(p.Operations) > 20 {
		c.add("operations", "1 to 20 operations are required")
	}
	codes := make([]string, len(p.Operations))
	for i, op := range p.Operations {
		f := fmt.Sprintf("operations[%d]", i)
		codes[i] = op.Code
		c.code(f+".code", op.Code)
		c.name(f+".name", op.Name)
		c.code(f+".workstation", op.Workstation)
		c.number(f+".setup_minutes", op.SetupMinutes, 0, maxMinutes)
		c.number(f+".run_minutes", op.RunMinutes, 0, maxMinutes)
		c.number(f+".per_dm2", op.PerDm2, 0, maxMinutes)
		c.number(f+".per_cm3", op.PerCm3, 0, maxMinutes)
	}
	if dup := duplicate(codes); dup != "" {
		c.add("operations", "operation code %q is used twice", dup)
	}
	return c.err()
}

// CheckSettings checks the settings.
func CheckSettings(s Settings) error {
	var c checker
	if len(s.Currency) != 3 || strings.ToUpper(s.Currency) != s.Currency || strings.ContainsFunc(s.Currency, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		c.add("currency", "must be an ISO 4217 code such as EUR")
	}
	c.number("margin_pct", s.MarginPct, 0, 1000)
	c.money("minimum_unit_price", s.MinimumUnitPrice)
	c.number("rush_multiplier", s.RushMultiplier, 1, 10)
	if s.StandardLeadDays < 1 || s.StandardLeadDays > maxLeadDays {
		c.add("standard_lead_days", "must be between 1 and %d", maxLeadDays)
	}
	if s.RushLeadDays < 1 || s.RushLeadDays > s.StandardLeadDays {
		c.add("rush_lead_days", "must be between 1 and the standard lead days")
	}
	if s.MaxQuantity < 1 || s.MaxQuantity > maxQuantity {
		c.add("max_quantity", "must be between 1 and %d", maxQuantity)
	}
	if len(s.QuantityBreaks) > 20 {
		c.add("quantity_breaks", "at most 20 breaks")
	}
	for i, b := range s.QuantityBreaks {
		if b < 1 || (i > 0 && b <= s.QuantityBreaks[i-1]) {
			c.add("quantity_breaks", "must be positive and increasing")
		}
	}
	return c.err()
}

// Check checks a whole list: every entry on its own and every reference
// between them, so that a list that passes can be published and quoted.
func Check(pl contracts.PriceListV1) error {
	var c checker
	nested := func(prefix string, err error) {
		var fe text.FieldErrors
		if errors.As(err, &fe) {
			for k, v := range fe {
				c.add(prefix+"."+k, "%s", v)
			}
		}
	}
	nested("settings", CheckSettings(SettingsOf(pl)))
	ws := map[string]bool{}
	for _, w := range pl.Workstations {
		nested("workstations."+w.Code, CheckWorkstation(w))
		ws[w.Code] = true
	}
	mats := map[string]bool{}
	for _, m := range pl.Materials {
		nested("materials."+m.Code, CheckMaterial(m))
		mats[m.Code] = true
	}
	fins := map[string]bool{}
	for _, f := range pl.Finishes {
		nested("finishes."+f.Code, CheckFinish(f))
		fins[f.Code] = true
		if f.Workstation != "" && !ws[f.Workstation] {
			c.add("finishes."+f.Code+".workstation", "unknown workstation %q", f.Workstation)
		}
	}
	if len(pl.Products) == 0 {
		c.add("products", "at least one product is required")
	}
	for _, p := range pl.Products {
		prefix := "products." + p.Code
		nested(prefix, CheckProduct(p))
		for _, m := range p.Materials {
			if !mats[m] {
				c.add(prefix+".materials", "unknown material %q", m)
			}
		}
		for _, f := range p.Finishes {
			if !fins[f] && f != "none" {
				c.add(prefix+".finishes", "unknown finish %q", f)
			}
		}
		for i, op := range p.Operations {
			if !ws[op.Workstation] {
				c.add(fmt.Sprintf("%s.operations[%d].workstation", prefix, i), "unknown workstation %q", op.Workstation)
			}
		}
	}
	for field, codes := range map[string][]string{"materials": codesOf(pl.Materials, func(m contracts.Material) string { return m.Code }),
		"finishes":     codesOf(pl.Finishes, func(f contracts.Finish) string { return f.Code }),
		"workstations": codesOf(pl.Workstations, func(w contracts.Workstation) string { return w.Code }),
		"products":     codesOf(pl.Products, func(p contracts.Product) string { return p.Code })} {
		if dup := duplicate(codes); dup != "" {
			c.add(field, "code %q is used twice", dup)
		}
	}
	if err := c.err(); err != nil {
		return err
	}
	if err := pl.Validate(); err != nil {
		return text.FieldErrors{"price_list": err.Error()}
	}
	return nil
}

func codesOf[T any](xs []T, code func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = code(x)
	}
	return out
}

func duplicate(xs []string) string {
	s := slices.Clone(xs)
	sort.Strings(s)
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] {
			return s[i]
		}
	}
	return ""
}

// put replaces the entry with the same code or appends it.
func put[T any](xs []T, x T, code func(T) string) []T {
	out := slices.Clone(xs)
	if i := slices.IndexFunc(out, func(y T) bool { return code(y) == code(x) }); i >= 0 {
		out[i] = x
		return out
	}
	return append(out, x)
}

func remove[T any](xs []T, c string, code func(T) string) ([]T, error) {
	i := slices.IndexFunc(xs, func(y T) bool { return code(y) == c })
	if i < 0 {
		return nil, fmt.Errorf("%q: %w", c, ErrNotFound)
	}
	return slices.Delete(slices.Clone(xs), i, i+1), nil
}

// A Change turns the current list into the next one.
type Change func(contracts.PriceListV1) (contracts.PriceListV1, error)

// PutMaterial adds or replaces a material.
func PutMaterial(m contracts.Material) Change {
	return func(pl contracts.PriceListV1) (contracts.PriceListV1, error) {
		if err := CheckMaterial(m); err != nil {
			return pl, err
		}
		pl.Materials = put(pl.Materials, m, func(x contracts.Material) string { return x.Code })
		return pl, nil
	}
}

// PutFinish adds or replaces a finish.
func PutFinish(f contracts.Finish) Change {
	return func(pl contracts.PriceListV1) (contracts.PriceListV1, error) {
		if err := CheckFinish(f); err != nil {
			return pl, err
		}
		pl.Finishes = put(pl.Finishes, f, func(x contracts.Finish) string { return x.Code })
		return pl, nil
	}
}

// PutWorkstation adds or replaces a workstation.
func PutWorkstation(w contracts.Workstation) Change {
	return func(pl contracts.PriceListV1) (contracts.PriceListV1, error) {
		if err := CheckWorkstation(w); err != nil {
			return pl, err
		}
		pl.Workstations = put(pl.Workstations, w, func(x contracts.Workstation) string { return x.Code })
		return pl, nil
	}
}

// PutProduct adds or replaces a product.
func PutProduct(p contracts.Product) Change {
	return func(pl contracts.PriceListV1) (contracts.PriceListV1, error) {
		if err := CheckProduct(p); err != nil {
			return pl, err
		}
		pl.Products = put(pl.Products, p, func(x contracts.Product) string { return x.Code })
		return pl, nil
	}
}

// PutSettings replaces the settings.
func PutSettings(s Settings) Change {
	return func(pl contracts.PriceListV1) (contracts.PriceListV1, error) {
		if err := CheckSettings(s); err != nil {
			return pl, err
		}
		pl.Currency, pl.MarginPct, pl.MinimumUnitPrice, pl.RushMultiplier = s.Currency, s.MarginPct, s.MinimumUnitPrice, s.RushMultiplier
		pl.StandardLeadDays, pl.RushLeadDays, pl.MaxQuantity, pl.QuantityBreaks = s.StandardLeadDays, s.RushLeadDays, s.MaxQuantity, slices.Clone(s.QuantityBreaks)
		return pl, nil
	}
}

// Delete removes the entry of a kind ("materials", "finishes",
// "workstations", "products") with the code; Check then refuses the result
// while anything still uses it.
func Delete(kind, code string) Change {
	return func(pl contracts.PriceListV1) (contracts.PriceListV1, error) {
		var err error
		switch kind {
		case "materials":
			pl.Materials, err = remove(pl.Materials, code, func(x contracts.Material) string { return x.Code })
		case "finishes":
			pl.Finishes, err = remove(pl.Finishes, code, func(x contracts.Finish) string { return x.Code })
		case "workstations":
			pl.Workstations, err = remove(pl.Workstations, code, func(x contracts.Workstation) string { return x.Code })
		case "products":
			pl.Products, err = remove(pl.Products, code, func(x contracts.Product) string { return x.Code })
		default:
			err = fmt.Errorf("kind %q: %w", kind, ErrNotFound)
		}
		return pl, err
	}
}
