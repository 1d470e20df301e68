package ordertrace

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fabrika/fabrika/contracts"
)

// Services are the services that know orders, in the order `fabrika order
// trace` shows them.
func Services() []string { return []string{"shop", "crm", "mes-calc", "mes-operator", "mes-api"} }

// place is a status and who put the order there.
type place struct {
	status  string
	service string
	since   time.Time
	facts   []Fact
}

// waitsFor says what an order in a status waits for; false for a status
// that waits for nothing (shipped, cancelled).
func waitsFor(status string) (string, bool) {
	switch status {
	case contracts.StatusPlaced:
		return "for mes-calc to price it", true
	case contracts.StatusNeedsReview:
		return "for a manager's review in the CRM", true
	case contracts.StatusPriced:
		return "for a manager's confirmation", true
	case contracts.StatusConfirmed:
		return "for the shop floor to start it (mes-operator)", true
	case contracts.StatusOnHold:
		return "for a manager to resume it", true
	case contracts.StatusInProduction:
		return "for the operators to finish its operations", true
	case contracts.StatusProduced:
		return "for shipping", true
	}
	return "", false
}

// doneBy says which service's event put an order in a status.
func doneBy(status string) string {
	switch status {
	case contracts.StatusNeedsReview:
		return "sent to review by mes-calc"
	case contracts.StatusPriced:
		return "priced by mes-calc"
	case contracts.StatusConfirmed:
		return "confirmed in the CRM"
	case contracts.StatusOnHold:
		return "put on hold in the CRM"
	case contracts.StatusInProduction:
		return "in production at mes-operator since"
	case contracts.StatusProduced:
		return "produced at mes-operator"
	case contracts.StatusShipped:
		return "shipped by mes-operator"
	}
	return status
}

// Verdict is one line: where the order is now and what it is waiting for,
// from the reports of the services that know it (at now). A message a
// service gave up on (dead letter, outbox row in error) comes first: a
// person has to act.
func Verdict(reports []Report, now time.Time) string {
	var problems []string
	for _, r := range reports {
		for _, d := range r.DeadLetters {
			if d.Status == "open" {
				problems = append(problems, fmt.Sprintf("%s dead-lettered %s %s (%s); waiting for a person: fabrika deadletter replay --service %s --id %s",
					r.Service, d.Subject, Clock(d.CreatedAt, now), short(d.Reason), r.Service, d.ID))
			}
		}
		for _, e := range r.Outbox {
			if e.Status == "error" {
				problems = append(problems, fmt.Sprintf("%s gave up publishing %s after %d attempts (%s); waiting for a person: fabrika outbox retry --service %s --id %s",
					r.Service, e.Subject, e.Attempts, short(e.LastError), r.Service, e.ID))
			}
		}
	}
	p, ok := where(reports)
	if !ok {
		if len(problems) > 0 {
			return strings.Join(problems, "; ")
		}
		return "no service has a row of this order; " + unsent(reports, "its messages")
	}
	var b strings.Builder
	by := doneBy(p.status)
	if p.status == contracts.StatusPlaced {
		by = "placed at " + p.service
	}
	fmt.Fprintf(&b, "%s %s", by, Clock(p.since, now))
	for _, f := range p.facts {
		fmt.Fprintf(&b, " (%s %s)", f.Name, f.Value)
	}
	waits, open := waitsFor(p.status)
	switch {
	case len(problems) > 0:
		b.WriteString("; " + strings.Join(problems, "; "))
	case !open:
		b.WriteString("; waiting for nothing")
	default:
		if w := unsent(reports, ""); w != "" {
			waits = w
		} else if p.status == contracts.StatusPlaced && !pricedSeen(reports) {
			waits = "for mes-calc to price it (mes-calc has no calculation of it yet)"
		}
		fmt.Fprintf(&b, "; waiting %s", waits)
		if !p.since.IsZero() {
			in := now.Sub(p.since)
			fmt.Fprintf(&b, " for %s", Duration(in))
			if th, ok := threshold(reports, p.status); ok {
				fmt.Fprintf(&b, ", threshold %s", Duration(th))
				if in > th {
					b.WriteString(": stuck")
				}
			}
		}
	}
	return b.String()
}

// where finds the order's place: the most advanced status any service
// shows (the others have not heard yet), the CRM's on a tie (hold and
// resume share a rank).
func where(reports []Report) (place, bool) {
	var best place
	bestRank := 0
	for _, r := range reports {
		if r.Rows == nil {
			continue
		}
		st := r.Rows.Status
		rank, ok := contracts.StatusRank(st)
		if !ok {
			continue
		}
		if rank > bestRank || (rank == bestRank && r.Service == "crm") {
			best = place{status: st, service: r.Service, since: r.Rows.Since, facts: keyFacts(r.Rows.Facts)}
			bestRank = rank
			if st == contracts.StatusPlaced {
				best.service = origin(reports, r)
			}
		}
	}
	return best, bestRank > 0
}

// origin is the service an order was placed at: its channel's.
func origin(reports []Report, r Report) string {
	for _, x := range reports {
		if x.Rows != nil && x.Rows.Channel != "" {
			if x.Rows.Channel == "api" {
				return "mes-api"
			}
			return "shop"
		}
	}
	return r.Service
}

// keyFacts keeps the facts worth a place in the one line.
func keyFacts(fs []Fact) []Fact {
	var out []Fact
	for _, f := range fs {
		if f.Name == "by" || f.Name == "reason" || f.Name == "operations done" {
			out = append(out, f)
		}
	}
	return out
}

// unsent names the first message still waiting in a service's outbox (not
// in error), or returns "" when none; what prefixes a generic answer.
func unsent(reports []Report, what string) string {
	for _, r := range reports {
		for _, e := range r.Outbox {
			if e.Status != "error" {
				return fmt.Sprintf("for %s to publish %s (%s since %s, %d attempts)", r.Service, e.Subject, e.Status, e.CreatedAt.UTC().Format("15:04:05"), e.Attempts)
			}
		}
	}
	if what == "" {
		return ""
	}
	return "no message of it waits in an outbox"
}

// pricedSeen tells whether mes-calc has a calculation of the order.
func pricedSeen(reports []Report) bool {
	for _, r := range reports {
		if r.Service == "mes-calc" && r.Rows != nil {
			return true
		}
	}
	return false
}

// threshold is the CRM's stuck threshold of a status.
func threshold(reports []Report, status string) (time.Duration, bool) {
	for _, r := range reports {
		if r.Rows != nil && r.Rows.Thresholds != nil {
			if s, ok := r.Rows.Thresholds[status]; ok {
				return time.Duration(s) * time.Second, true
			}
		}
	}
	return 0, false
}

// Clock writes a time as the verdict shows it: 10:02:11 today (UTC), with
// the date on another day.
func Clock(t, now time.Time) string {
	if t.IsZero() {
		return "(time unknown)"
	}
	t, now = t.UTC(), now.UTC()
	if t.Format(time.DateOnly) == now.Format(time.DateOnly) {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04:05")
}

// short cuts a reason to one readable clause.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 160 {
		return string(r[:159]) + "…"
	}
	return s
}

// Duration writes a duration as people do: "24 h", "3 d 4 h", "45 min",
// "2 h 5 min"; at most two units, rounded down to the minute.
func Duration(d time.Duration) string {
	if d < time.Minute {
		return "under 1 min"
	}
	days, hours, mins := int64(d/(24*time.Hour)), int64(d/time.Hour)%24, int64(d/time.Minute)%60
	// A whole number of hours up to two days reads better as hours ("36 h").
	if days > 0 && days < 2 && mins == 0 {
		hours, days = hours+24*days, 0
	}
	var parts []string
	if days > 0 {
		parts = append(parts, fmt.Sprintf("%d d", days))
	}
	if hours > 0 {
		parts = append(parts, fmt.Sprintf("%d h", hours))
	}
	if mins > 0 && days == 0 {
		parts = append(parts, fmt.Sprintf("%d min", mins))
	}
	return strings.Join(parts, " ")
}

// Sorted returns reports in the order of Services, others after.
func Sorted(reports []Report) []Report {
	out := slices.Clone(reports)
	idx := func(s string) int {
		if i := slices.Index(Services(), s); i >= 0 {
			return i
		}
		return len(Services())
	}
	slices.SortStableFunc(out, func(a, b Report) int { return idx(a.Service) - idx(b.Service) })
	return out
}
