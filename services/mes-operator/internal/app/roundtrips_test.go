package app_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
)

// TestRoundTripsPerStep counts the statements each step of an order's way
// through the shop floor sends to PostgreSQL (pg_stat_statements of the
// test's database, begin and commit included; the outbox's relay is not
// running): the service's cost per order is mostly these round trips.
// Skipped where the server does not load pg_stat_statements
// (testenv.Statements).
func TestRoundTripsPerStep(t *testing.T) {
	if !testenv.Postgres() {
		t.Skip("counts PostgreSQL's statements: FABRIKA_TEST_ENGINE=postgres")
	}
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	statements := testenv.Statements(t, e.db)
	e.confirm(confirmed("warm-up", "2026-03-05", false)) // the workstations are known from here on

	p := confirmed("o1", "2026-03-05", false)
	p.Lines = []contracts.LineItem{{LineNo: 1, Product: "laser_cut_sheet", Quantity: 10, Options: map[string]string{"material": "steel_s235"}}}
	var cut, bend string
	step := func(k production.ActionKind, op *string, qty int) func() {
		return func() { e.mustAct(ana, *op, k, production.ActionInput{GoodQty: qty}) }
	}
	tests := []struct {
		name string
		do   func()
		want int
	}{
		// begin, the order, the workstations, the operations, the lines, commit
		{"confirmation", func() { e.confirm(p) }, 6},
		// the workstation, the queue with its lines
		{"queue", func() { e.queue(ana, "laser1") }, 2},
		// begin, the work, two messages, the operation, the order (in production), the event id, commit
		{"first start", step(production.ActStart, &cut, 0), 8},
		// begin, the work, one message, the operation, the next one (ready), the event id, commit
		{"finish", step(production.ActFinish, &cut, 10), 7},
		// begin, the work, one message, the operation, the event id, commit
		{"start", step(production.ActStart, &bend, 0), 6},
		// begin, the work, two messages, the operation, the order (produced), the event id, commit
		{"last finish", step(production.ActFinish, &bend, 10), 8},
		// begin, the work, one message, the order, the event id, commit
		{"ship", func() {
			s, err := production.NewShipment(uuid.NewString(), "DHL", "1Z")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.app.Ship(ctx, ana, "o1", s); err != nil {
				t.Fatal(err)
			}
		}, 6},
	}
	for _, tt := range tests {
		statements.Reset()
		tt.do()
		n := statements.Count()
		if n > tt.want {
			t.Errorf("%s: %d statements, want at most %d", tt.name, n, tt.want)
		}
		t.Logf("%s: %d statements", tt.name, n)
		if tt.name == "confirmation" {
			cut, bend = e.opID("o1", 1), e.opID("o1", 2)
		}
	}
}
