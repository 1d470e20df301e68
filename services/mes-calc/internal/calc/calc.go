// Package calc is mes-calc's pure, deterministic calculation of an order: the
// binding price of each line (contracts.PriceListV1.Quote), the production
// routing, the check that every step fits its workstation, and the schedule
// of the routing against the current load of each workstation, which gives
// the ship date. It does no I/O of its own: the load already planned is read
// through the Load interface, and the bookings it makes are returned for the
// caller to store in the same transaction as the order.priced event.
package calc

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/fabrika/fabrika/contracts"
)

// Day is a calendar day, counted in days since 1970-01-01 (UTC).
type Day int

// DayOf returns the UTC calendar day of t.
func DayOf(t time.Time) Day {
	return Day(math.Floor(float64(t.Unix()) / 86400))
}

// Time returns midnight UTC of d.
func (d Day) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// String is the day as YYYY-MM-DD.
func (d Day) String() string { return d.Time().Format(time.DateOnly) }

// Working tells whether d is a working day (Monday to Friday).
func (d Day) Working() bool {
	// 1970-01-01 was a Thursday: (d+4) mod 7 is the weekday, 0 for Sunday.
	wd := ((int(d)+4)%7 + 7) % 7
	return wd != 0 && wd != 6
}

// NextWorking returns the first working day after d.
func (d Day) NextWorking() Day {
	d++
	for !d.Working() {
		d++
	}
	return d
}

// AddWorking returns the day n working days after d.
func (d Day) AddWorking(n int) Day {
	if n <= 0 {
		return d
	}
	for !d.Working() { // from a weekend, the first working day counts as one
		d = d.NextWorking()
		n--
		if n == 0 {
			return d
		}
	}
	d += Day(n / 5 * 7) // five working days are a week from a working day
	for range n % 5 {
		d = d.NextWorking()
	}
	return d
}

// WorkingDaysBetween counts the working days in (from, to].
func WorkingDaysBetween(from, to Day) int {
	n := 0
	if to-from > 14 { // whole weeks at once
		weeks := int(to-from-7) / 7
		n = weeks * 5
		from += Day(weeks * 7)
	}
	for d := from + 1; d <= to; d++ {
		if d.Working() {
			n++
		}
	}
	return n
}

// Centiminutes are hundredths of a minute: the load is kept in integers so
// that adding and releasing it never drifts.
func Centiminutes(minutes float64) int64 { return int64(math.Round(minutes * 100)) }

// Load is the work already planned on the workstations.
type Load interface {
	// FirstOpen returns the first day on or after from on which ws may have
	// free minutes: every working day in between is known to be full. A
	// Load that keeps no such mark returns from. It spares the walk over a
	// long queue of full days.
	FirstOpen(ws string, from Day) (Day, error)
	// Booked returns the centiminutes already planned on ws on day.
	Booked(ws string, day Day) (int64, error)
}

// Booking is planned work of one routing step on one day. A step longer than
// a day's free capacity is spread over several days.
type Booking struct {
	LineNo       int
	Seq          int
	Workstation  string
	Day          Day
	Centiminutes int64
}

// Input is everything one calculation depends on.
type Input struct {
	PriceList contracts.PriceListV1
	Order     contracts.OrderPlacedV1
	Now       time.Time // the calculation time: priced_at, and today for the schedule
	// HorizonDays bounds how many working days ahead a step may be planned
	// (default 780, about three years); beyond it the order needs review.
	HorizonDays int
}

// Result is the outcome of a calculation: either Priced with its Bookings,
// or a Review reason for a manager.
type Result struct {
	Priced   *contracts.OrderPricedV1
	Review   string
	Bookings []Booking
}

// DefaultHorizonDays is the scheduling horizon when Input.HorizonDays is 0.
const DefaultHorizonDays = 780

// Calculate prices, routes and schedules an order. A line that cannot be
// manufactured gives a Result with a Review reason (and no bookings); only a
// failing Load gives an error.
func Calculate(in Input, load Load) (Result, error) {
	pl, o := in.PriceList, in.Order
	if o.Currency != "" && o.Currency != pl.Currency {
		return Result{Review: fmt.Sprintf("order currency %s differs from the price list currency %s", o.Currency, pl.Currency)}, nil
	}
	priced := &contracts.OrderPricedV1{
		OrderID: o.OrderID, Channel: o.Channel, Currency: pl.Currency, PriceListVersion: pl.Version,
		PricedAt: in.Now.UTC(),
	}
	type lineRoute struct {
		lineNo int
		rush   bool
		lead   int
		steps  []contracts.RoutingStep
	}
	routes := make([]lineRoute, 0, len(o.Lines))
	for i, l := range o.Lines {
		lineNo := l.LineNo
		if lineNo <= 0 {
			lineNo = i + 1
		}
		q, err := pl.Quote(contracts.Config{Product: l.Product, Options: l.Options, Quantity: l.Quantity, Lead: l.Lead})
		if err != nil {
			return Result{Review: fmt.Sprintf("line %d: %s", lineNo, reviewReason(err))}, nil
		}
		if reason := fits(pl, l, q.Routing); reason != "" {
			return Result{Review: fmt.Sprintf("line %d: %s", lineNo, reason)}, nil
		}
		if q.Total <= 0 || q.Total/int64(l.Quantity) != q.UnitPrice {
			return Result{Review: fmt.Sprintf("line %d: the price cannot be computed", lineNo)}, nil
		}
		priced.Lines = append(priced.Lines, contracts.PricedLine{LineNo: lineNo, Quantity: l.Quantity, UnitPrice: q.UnitPrice, Total: q.Total})
		if priced.Total > math.MaxInt64-q.Total {
			return Result{Review: "the order total is too large"}, nil
		}
		priced.Total += q.Total
		rush := l.Lead == contracts.LeadRush
		priced.Rush = priced.Rush || rush
		for j := range q.Routing {
			q.Routing[j].LineNo = lineNo
		}
		priced.Routing = append(priced.Routing, q.Routing...)
		routes = append(routes, lineRoute{lineNo: lineNo, rush: rush, lead: q.LeadDays, steps: q.Routing})
	}

	horizon := in.HorizonDays
	if horizon <= 0 {
		horizon = DefaultHorizonDays
	}
	today := DayOf(in.Now)
	start := today.NextWorking()
	s := &scheduler{pl: pl, load: load, own: map[wsDay]int64{}, last: start.AddWorking(horizon)}
	ship := start
	for _, r := range routes {
		day := start
		for _, st := range r.steps {
			end, err := s.book(r.lineNo, st, day)
			if err != nil {
				var full errFull
				if errors.As(err, &full) {
					return Result{Review: fmt.Sprintf("line %d: %s", r.lineNo, full.reason)}, nil
				}
				return Result{}, err
			}
			day = end
		}
		lineShip := max(day.NextWorking(), today.AddWorking(r.lead))
		ship = max(ship, lineShip)
	}
	priced.ShipDate = ship.String()
	priced.LeadDays = WorkingDaysBetween(today, ship)
	if err := priced.Validate(); err != nil { // e.g. a free product: nobody downstream could take it
		return Result{Review: fmt.Sprintf("the price cannot be published: %v", err)}, nil
	}
	return Result{Priced: priced, Bookings: s.bookings}, nil
}

// reviewReason turns a quote error into words for a manager.
func reviewReason(err error) string {
	var qe *contracts.QuoteError
	if errors.As(err, &qe) {
		switch qe.Field {
		case "product", "quantity", "lead", contracts.OptMaterial, contracts.OptFinish: // their messages name them
			return qe.Message
		}
		return qe.Field + " " + qe.Message
	}
	return err.Error()
}

// fits checks the part against the limits of every workstation of its
// routing. Width and height may be swapped (a part can be turned on the
// table); thickness cannot.
func fits(pl contracts.PriceListV1, l contracts.LineItem, routing []contracts.RoutingStep) string {
	w, _ := strconv.ParseFloat(l.Options[contracts.OptWidth], 64)
	h, _ := strconv.ParseFloat(l.Options[contracts.OptHeight], 64)
	t, _ := strconv.ParseFloat(l.Options[contracts.OptThickness], 64)
	seen := map[string]bool{}
	for _, st := range routing {
		if seen[st.Workstation] {
			continue
		}
		seen[st.Workstation] = true
		ws, ok := workstation(pl, st.Workstation)
		if !ok {
			return fmt.Sprintf("workstation %q of operation %s is unknown", st.Workstation, st.Operation)
		}
		if ws.HoursPerDay <= 0 {
			return fmt.Sprintf("workstation %s has no daily capacity", ws.Code)
		}
		if ws.MaxThicknessM > 0 && t > ws.MaxThicknessM {
			return fmt.Sprintf("thickness %g mm exceeds the %s limit of %g mm", t, ws.Name, ws.MaxThicknessM)
		}
		if !fitsPlane(w, h, ws.MaxWidthMM, ws.MaxHeightMM) {
			return fmt.Sprintf("%g x %g mm exceeds the %s limit of %s", w, h, ws.Name, limit(ws))
		}
	}
	return ""
}

func fitsPlane(w, h, maxW, maxH float64) bool {
	ok := func(a, b float64) bool { return (maxW <= 0 || a <= maxW) && (maxH <= 0 || b <= maxH) }
	return ok(w, h) || ok(h, w)
}

func limit(ws contracts.Workstation) string {
	switch {
	case ws.MaxWidthMM > 0 && ws.MaxHeightMM > 0:
		return fmt.Sprintf("%g x %g mm", ws.MaxWidthMM, ws.MaxHeightMM)
	case ws.MaxWidthMM > 0:
		return fmt.Sprintf("%g mm in length", ws.MaxWidthMM)
	default:
		return fmt.Sprintf("%g mm in length", ws.MaxHeightMM)
	}
}

func workstation(pl contracts.PriceListV1, code string) (contracts.Workstation, bool) {
	for _, ws := range pl.Workstations {
		if ws.Code == code {
			return ws, true
		}
	}
	return contracts.Workstation{}, false
}

type wsDay struct {
	ws  string
	day Day
}

// scheduler books steps onto days, adding its own bookings to the load
// already planned, so that two steps of one order on one workstation do not
// share the same free minutes.
type scheduler struct {
	pl       contracts.PriceListV1
	load     Load
	own      map[wsDay]int64
	bookings []Booking
	last     Day
}

type errFull struct{ reason string }

func (e errFull) Error() string { return e.reason }

// book plans a step from the earliest working day with free capacity on or
// after from, spreading it over the following working days when it does not
// fit in one; it returns the day the step ends.
func (s *scheduler) book(lineNo int, st contracts.RoutingStep, from Day) (Day, error) {
	ws, _ := workstation(s.pl, st.Workstation)
	capacity := Centiminutes(ws.HoursPerDay * 60)
	need := Centiminutes(st.PlannedMinutes)
	day := from
	for !day.Working() {
		day++
	}
	if need <= 0 {
		return day, nil
	}
	open, err := s.load.FirstOpen(ws.Code, day)
	if err != nil {
		return 0, fmt.Errorf("load of %s: %w", ws.Code, err)
	}
	if open > day {
		day = open
		for !day.Working() {
			day++
		}
	}
	for ; ; day = day.NextWorking() {
		if day > s.last {
			return 0, errFull{fmt.Sprintf("%s has no free capacity before %s", ws.Name, s.last)}
		}
		booked, err := s.load.Booked(ws.Code, day)
		if err != nil {
			return 0, fmt.Errorf("load of %s on %s: %w", ws.Code, day, err)
		}
		k := wsDay{ws.Code, day}
		free := capacity - booked - s.own[k]
		if free <= 0 {
			continue
		}
		take := min(free, need)
		s.own[k] += take
		s.bookings = append(s.bookings, Booking{LineNo: lineNo, Seq: st.Seq, Workstation: ws.Code, Day: day, Centiminutes: take})
		need -= take
		if need == 0 {
			return day, nil
		}
	}
}

// Memory is a Load held in memory, for tests and benchmarks; it keeps the
// first open day of each workstation as the service's tables do.
type Memory struct {
	capacity map[string]int64
	booked   map[wsDay]int64
	open     map[string]Day
}

// NewMemory returns an empty load for the workstations of pl.
func NewMemory(pl contracts.PriceListV1) *Memory {
	m := &Memory{capacity: map[string]int64{}, booked: map[wsDay]int64{}, open: map[string]Day{}}
	for _, ws := range pl.Workstations {
		m.capacity[ws.Code] = Centiminutes(ws.HoursPerDay * 60)
	}
	return m
}

// FirstOpen implements Load.
func (m *Memory) FirstOpen(ws string, from Day) (Day, error) { return max(from, m.open[ws]), nil }

// Booked implements Load.
func (m *Memory) Booked(ws string, day Day) (int64, error) { return m.booked[wsDay{ws, day}], nil }

// Add books the bookings into m and moves the first open day of each
// workstation past the days they filled.
func (m *Memory) Add(bs []Booking) {
	for _, b := range bs {
		m.booked[wsDay{b.Workstation, b.Day}] += b.Centiminutes
	}
	for _, b := range bs {
		d := m.open[b.Workstation]
		if d == 0 || !d.Working() {
			continue
		}
		for m.booked[wsDay{b.Workstation, d}] >= m.capacity[b.Workstation] {
			d = d.NextWorking()
		}
		m.open[b.Workstation] = d
	}
}

// Start marks day as the first open day of every workstation, as when the
// service first books.
func (m *Memory) Start(day Day) {
	for ws := range m.capacity {
		m.open[ws] = day
	}
}

// Days returns the centiminutes booked on ws per day.
func (m *Memory) Days(ws string) map[Day]int64 {
	out := map[Day]int64{}
	for k, v := range m.booked {
		if k.ws == ws {
			out[k.day] = v
		}
	}
	return out
}

// Totals sums bookings per workstation and day, in a stable order: the
// rows the caller adds to its load table.
func Totals(bs []Booking) []Booking {
	sum := map[wsDay]int64{}
	for _, b := range bs {
		sum[wsDay{b.Workstation, b.Day}] += b.Centiminutes
	}
	out := make([]Booking, 0, len(sum))
	for k, v := range sum {
		out = append(out, Booking{Workstation: k.ws, Day: k.day, Centiminutes: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Workstation != out[j].Workstation {
			return out[i].Workstation < out[j].Workstation
		}
		return out[i].Day < out[j].Day
	})
	return out
}
