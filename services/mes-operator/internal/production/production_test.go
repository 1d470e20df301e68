package production

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const evID = "0190f3c4-7d2a-7b3e-9f00-1234567890ab"

func mustAction(t *testing.T, k ActionKind, in ActionInput) Action {
	t.Helper()
	if in.EventID == "" {
		in.EventID = evID
	}
	a, err := NewAction(k, in)
	if err != nil {
		t.Fatalf("NewAction(%s, %+v): %v", k, in, err)
	}
	return a
}

func planned(t *testing.T) (Order, []Operation) {
	t.Helper()
	ops, err := Plan("o1", []Step{
		{LineNo: 2, Seq: 1, Name: "laser", Workstation: "laser1", PlannedMinutes: 10},
		{LineNo: 1, Seq: 2, Name: "bend", Workstation: "bend1", PlannedMinutes: 5},
		{LineNo: 1, Seq: 1, Name: "laser", Workstation: "laser1", PlannedMinutes: 12},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range ops {
		ops[i].ID = ops[i].Name + "-" + string(rune('0'+ops[i].LineNo)) + string(rune('0'+ops[i].Seq))
	}
	return Order{ID: "o1", Number: "F-1", Status: Confirmed}, ops
}

func TestPlan(t *testing.T) {
	t.Parallel()
	_, ops := planned(t)
	want := []struct {
		line, seq int
		state     State
	}{{1, 1, Ready}, {1, 2, Waiting}, {2, 1, Ready}}
	if len(ops) != len(want) {
		t.Fatalf("got %d operations", len(ops))
	}
	for i, w := range want {
		if ops[i].LineNo != w.line || ops[i].Seq != w.seq || ops[i].State != w.state {
			t.Errorf("op %d = line %d seq %d %s, want %+v", i, ops[i].LineNo, ops[i].Seq, ops[i].State, w)
		}
	}
	bad := []struct {
		name  string
		steps []Step
	}{
		{"empty", nil},
		{"zero seq", []Step{{LineNo: 1, Seq: 0, Name: "a", Workstation: "w"}}},
		{"no workstation", []Step{{LineNo: 1, Seq: 1, Name: "a"}}},
		{"negative minutes", []Step{{LineNo: 1, Seq: 1, Name: "a", Workstation: "w", PlannedMinutes: -1}}},
		{"duplicate", []Step{{LineNo: 1, Seq: 1, Name: "a", Workstation: "w"}, {LineNo: 1, Seq: 1, Name: "b", Workstation: "w"}}},
	}
	for _, b := range bad {
		if _, err := Plan("o", b.steps); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want invalid", b.name, err)
		}
	}
}

func TestNewAction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		kind  ActionKind
		in    ActionInput
		field string // "" when valid
	}{
		{"start", ActStart, ActionInput{EventID: evID}, ""},
		{"upper-case uuid", ActStart, ActionInput{EventID: strings.ToUpper(evID)}, ""},
		{"no event id", ActStart, ActionInput{}, "event_id"},
		{"bad event id", ActStart, ActionInput{EventID: "not-a-uuid-not-a-uuid-not-a-uuid-123"}, "event_id"},
		{"pause without reason", ActPause, ActionInput{EventID: evID, Reason: "  "}, "reason"},
		{"pause", ActPause, ActionInput{EventID: evID, Reason: "tool change"}, ""},
		{"reason on start", ActStart, ActionInput{EventID: evID, Reason: "x"}, "reason"},
		{"quantities on start", ActStart, ActionInput{EventID: evID, GoodQty: 1}, "good_qty"},
		{"negative good", ActFinish, ActionInput{EventID: evID, GoodQty: -1}, "good_qty"},
		{"negative scrap", ActRecord, ActionInput{EventID: evID, ScrapQty: -5, ScrapReason: "x"}, "scrap_qty"},
		{"absurd good", ActFinish, ActionInput{EventID: evID, GoodQty: MaxQuantity + 1}, "good_qty"},
		{"scrap without reason", ActFinish, ActionInput{EventID: evID, ScrapQty: 2}, "scrap_reason"},
		{"scrap reason without scrap", ActFinish, ActionInput{EventID: evID, ScrapReason: "burr"}, "scrap_qty"},
		{"empty record", ActRecord, ActionInput{EventID: evID}, "good_qty"},
		{"record", ActRecord, ActionInput{EventID: evID, GoodQty: 3, ScrapQty: 1, ScrapReason: "burr"}, ""},
		{"finish with nothing", ActFinish, ActionInput{EventID: evID}, ""},
		{"control chars", ActPause, ActionInput{EventID: evID, Reason: "a\nb"}, "reason"},
		{"too long", ActPause, ActionInput{EventID: evID, Reason: strings.Repeat("x", MaxReasonLen+1)}, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewAction(tt.kind, tt.in)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			e, ok := AsError(err)
			if !ok || e.Kind != KindInvalid || e.Field != tt.field {
				t.Fatalf("err = %v, want invalid %s", err, tt.field)
			}
		})
	}
	if _, err := NewAction("explode", ActionInput{EventID: evID}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown kind: %v", err)
	}
}

func TestApplySequence(t *testing.T) {
	t.Parallel()
	ord, ops := planned(t)
	now := time.Date(2026, 1, 2, 8, 0, 0, 0, time.UTC)
	who := Operator{Subject: "u1", Name: "ana"}
	step := func(id string, k ActionKind, in ActionInput, wantKind Kind) Effect {
		t.Helper()
		now = now.Add(10 * time.Minute)
		before := append([]Operation(nil), ops...)
		beforeOrd := ord
		eff, err := Apply(&ord, ops, id, mustAction(t, k, in), who, now)
		if wantKind == 0 {
			if err != nil {
				t.Fatalf("%s %s: %v", k, id, err)
			}
			return eff
		}
		e, ok := AsError(err)
		if !ok || e.Kind != wantKind {
			t.Fatalf("%s %s: err = %v, want kind %d", k, id, err, wantKind)
		}
		for i := range ops {
			if ops[i] != before[i] {
				t.Fatalf("%s %s failed but changed operation %d", k, id, i)
			}
		}
		if ord != beforeOrd {
			t.Fatalf("%s %s failed but changed the order", k, id)
		}
		return eff
	}
	step("bend-12", ActStart, ActionInput{}, KindConflict)   // waiting: out of sequence
	step("laser-11", ActFinish, ActionInput{}, KindConflict) // not running
	step("laser-11", ActPause, ActionInput{Reason: "x"}, KindConflict)
	step("nope", ActStart, ActionInput{}, KindNotFound)
	eff := step("laser-11", ActStart, ActionInput{}, 0)
	if !eff.OrderStarted || ord.Status != InProduction {
		t.Fatalf("first start: effect %+v status %s", eff, ord.Status)
	}
	if eff := step("laser-21", ActStart, ActionInput{}, 0); eff.OrderStarted {
		t.Fatal("second start announced the order again")
	}
	step("laser-11", ActStart, ActionInput{}, KindConflict) // already running
	step("laser-11", ActPause, ActionInput{Reason: "tool change"}, 0)
	step("laser-11", ActFinish, ActionInput{}, KindConflict) // paused
	step("laser-11", ActRecord, ActionInput{GoodQty: 4}, 0)
	step("laser-11", ActResume, ActionInput{}, 0)
	eff = step("laser-11", ActFinish, ActionInput{GoodQty: 6, ScrapQty: 1, ScrapReason: "burr"}, 0)
	if !eff.Finished || len(eff.Readied) != 1 || eff.Readied[0].ID != "bend-12" || eff.OrderProduced {
		t.Fatalf("finish effect %+v", eff)
	}
	if ops[0].GoodQty != 10 || ops[0].ScrapQty != 1 || ops[0].State != Done || ops[0].Worked != 40*time.Minute { // worked 08:50-09:20 and 09:50-10:00
		t.Fatalf("finished op %+v", ops[0])
	}
	step("laser-11", ActFinish, ActionInput{}, KindConflict) // finishing twice
	step("bend-12", ActStart, ActionInput{}, 0)
	step("bend-12", ActFinish, ActionInput{GoodQty: 10}, 0)
	if ord.Status != InProduction {
		t.Fatalf("order %s before the last line is done", ord.Status)
	}
	step("laser-21", ActFinish, ActionInput{GoodQty: 3}, 0)
	if ord.Status != Produced || ord.ProducedAt.IsZero() {
		t.Fatalf("order %s after the last operation", ord.Status)
	}
	if err := Ship(&ord, Shipment{eventID: evID, carrier: "DHL", tracking: "123"}, who, now); err != nil || ord.Status != Shipped {
		t.Fatalf("ship: %v %s", err, ord.Status)
	}
	if err := Ship(&ord, Shipment{eventID: evID, carrier: "DHL", tracking: "123"}, who, now); !errors.Is(err, ErrConflict) {
		t.Fatalf("ship twice: %v", err)
	}
}

func TestShipBeforeProduced(t *testing.T) {
	t.Parallel()
	ord, _ := planned(t)
	s, err := NewShipment(evID, "UPS", "1Z")
	if err != nil {
		t.Fatal(err)
	}
	if err := Ship(&ord, s, Operator{}, time.Now()); !errors.Is(err, ErrConflict) || ord.Status != Confirmed {
		t.Fatalf("ship before produced: %v, status %s", err, ord.Status)
	}
	for _, in := range [][3]string{{"", "UPS", "1"}, {evID, "", "1"}, {evID, "UPS", " "}} {
		if _, err := NewShipment(in[0], in[1], in[2]); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewShipment%v: %v", in, err)
		}
	}
}

func TestHoldAndCancel(t *testing.T) {
	t.Parallel()
	ord, ops := planned(t)
	t0 := time.Date(2026, 1, 2, 8, 0, 0, 0, time.UTC)
	if _, err := Apply(&ord, ops, "laser-11", mustAction(t, ActStart, ActionInput{}), Operator{}, t0); err != nil {
		t.Fatal(err)
	}
	// A resume sent after a hold but delivered first, then the hold: the
	// later event wins whatever the order of arrival.
	if !Hold(&ord, ops, false, "", t0.Add(2*time.Minute)) {
		t.Fatal("resume not applied")
	}
	if Hold(&ord, ops, true, "customer call", t0.Add(time.Minute)) || ord.OnHold {
		t.Fatal("an older hold was applied after a newer resume")
	}
	if !Hold(&ord, ops, true, "customer call", t0.Add(3*time.Minute)) || !ord.OnHold {
		t.Fatal("hold not applied")
	}
	if ops[0].State != Paused || ops[0].PauseReason != reasonOrderHold {
		t.Fatalf("running op on hold: %s %q", ops[0].State, ops[0].PauseReason)
	}
	if _, err := Apply(&ord, ops, "laser-11", mustAction(t, ActResume, ActionInput{}), Operator{}, t0); !errors.Is(err, ErrConflict) {
		t.Fatalf("resume on a held order: %v", err)
	}
	Hold(&ord, ops, false, "", t0.Add(4*time.Minute))
	if _, err := Apply(&ord, ops, "laser-11", mustAction(t, ActResume, ActionInput{}), Operator{}, t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !Cancel(&ord, ops, "customer", t0.Add(6*time.Minute)) {
		t.Fatal("cancel not applied")
	}
	for _, op := range ops {
		if op.State != Cancelled {
			t.Errorf("op %s is %s after cancel", op.ID, op.State)
		}
	}
	if Cancel(&ord, ops, "again", t0.Add(7*time.Minute)) {
		t.Fatal("cancelled twice")
	}
	if _, err := Apply(&ord, ops, "bend-12", mustAction(t, ActStart, ActionInput{}), Operator{}, t0); !errors.Is(err, ErrConflict) {
		t.Fatalf("start on a cancelled order: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	a := mustAction(t, ActRecord, ActionInput{GoodQty: 1})
	b := mustAction(t, ActRecord, ActionInput{GoodQty: 2})
	if a.Fingerprint("op", "u") == b.Fingerprint("op", "u") || a.Fingerprint("op", "u") == a.Fingerprint("op2", "u") ||
		a.Fingerprint("op", "u") == a.Fingerprint("op", "v") {
		t.Fatal("different actions share a fingerprint")
	}
	if a.Fingerprint("op", "u") != mustAction(t, ActRecord, ActionInput{GoodQty: 1}).Fingerprint("op", "u") {
		t.Fatal("the same action has two fingerprints")
	}
}
