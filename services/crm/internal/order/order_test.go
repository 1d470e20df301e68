package order_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/services/crm/internal/order"
)

func TestAdvanceNeverMovesBackwards(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		from        order.State
		target      string
		want        order.State
		wantChanged bool
	}{
		{"placed to priced", order.State{Status: "placed"}, "priced", order.State{Status: "priced"}, true},
		{"needs review to priced", order.State{Status: "needs_review"}, "priced", order.State{Status: "priced"}, true},
		{"produced before confirmed stays produced", order.State{Status: "produced"}, "in_production", order.State{Status: "produced"}, false},
		{"priced after confirmed is ignored", order.State{Status: "confirmed"}, "priced", order.State{Status: "confirmed"}, false},
		{"same status is no change", order.State{Status: "priced"}, "priced", order.State{Status: "priced"}, false},
		{"cancelled is terminal", order.State{Status: "cancelled"}, "shipped", order.State{Status: "cancelled"}, false},
		{"cancel from anywhere", order.State{Status: "in_production"}, "cancelled", order.State{Status: "cancelled"}, true},
		{"on hold: priced raises the resume status", order.State{Status: "on_hold", HeldFrom: "placed"}, "priced", order.State{Status: "on_hold", HeldFrom: "priced"}, true},
		{"on hold: a lower status changes nothing", order.State{Status: "on_hold", HeldFrom: "priced"}, "needs_review", order.State{Status: "on_hold", HeldFrom: "priced"}, false},
		{"on hold: production wins", order.State{Status: "on_hold", HeldFrom: "confirmed"}, "produced", order.State{Status: "produced"}, true},
		{"unknown status is ignored", order.State{Status: "placed"}, "lost", order.State{Status: "placed"}, false},
		{"shipped is not held", order.State{Status: "shipped"}, "on_hold", order.State{Status: "shipped"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := tt.from.Advance(tt.target)
			if got != tt.want || changed != tt.wantChanged {
				t.Fatalf("Advance(%q) from %+v = %+v, %v; want %+v, %v", tt.target, tt.from, got, changed, tt.want, tt.wantChanged)
			}
		})
	}
}

func TestApplyActions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from    order.State
		action  string
		want    string
		wantErr error
	}{
		{order.State{Status: "priced"}, order.ActConfirm, "confirmed", nil},
		{order.State{Status: "placed"}, order.ActConfirm, "", order.ErrTransition},
		{order.State{Status: "needs_review"}, order.ActConfirm, "", order.ErrTransition},
		{order.State{Status: "confirmed"}, order.ActHold, "on_hold", nil},
		{order.State{Status: "on_hold"}, order.ActHold, "", order.ErrTransition},
		{order.State{Status: "on_hold", HeldFrom: "confirmed"}, order.ActResume, "confirmed", nil},
		{order.State{Status: "priced"}, order.ActResume, "", order.ErrTransition},
		{order.State{Status: "produced"}, order.ActCancel, "cancelled", nil},
		{order.State{Status: "shipped"}, order.ActCancel, "", order.ErrTransition},
		{order.State{Status: "cancelled"}, order.ActCancel, "", order.ErrTransition},
		{order.State{Status: "cancelled"}, order.ActAssign, "", order.ErrTransition},
		{order.State{Status: "shipped"}, order.ActNote, "shipped", nil},
		{order.State{Status: "placed"}, "explode", "", order.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.from.Status+"/"+tt.action, func(t *testing.T) {
			got, err := tt.from.Apply(tt.action)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Status != tt.want {
				t.Fatalf("got %+v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestTextAndAmount(t *testing.T) {
	t.Parallel()
	if _, err := order.Text("note", strings.Repeat("é", order.MaxNote+1), order.MaxNote); !errors.Is(err, order.ErrInvalid) {
		t.Fatalf("over-long note accepted: %v", err)
	}
	if s, err := order.Text("note", "  ok  ", order.MaxNote); err != nil || s != "ok" {
		t.Fatalf("Text = %q, %v", s, err)
	}
	if _, err := order.Text("note", "   ", order.MaxNote); err == nil {
		t.Fatal("blank note accepted")
	}
	amounts := map[string]int64{"12": 1200, "12.5": 1250, "12.05": 1205, "0.01": 1}
	for in, want := range amounts {
		if got, err := order.ParseAmount("amount", in); err != nil || got != want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-5", "1.234", "1e3", "abc", "12.", ".5", "100000.01", "9999999999"} {
		if _, err := order.ParseAmount("amount", in); err == nil {
			t.Errorf("ParseAmount(%q) accepted", in)
		}
	}
}

func TestSource(t *testing.T) {
	t.Parallel()
	cases := map[[2]string]string{
		{contracts.OrderPlaced, "shop"}:       "shop",
		{contracts.OrderPlaced, "api"}:        "mes-api",
		{contracts.OrderPriced, "api"}:        "mes-calc",
		{contracts.OperationFinished, "shop"}: "mes-operator",
		{contracts.OperationStarted, "api"}:   "mes-operator",
		{contracts.OrderConfirmed, "shop"}:    "crm",
	}
	for in, want := range cases {
		if got := order.Source(in[0], in[1]); got != want {
			t.Errorf("Source(%v) = %s, want %s", in, got, want)
		}
	}
}
