package production

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestRandomActionsKeepInvariants throws random actions, holds and
// cancellations at a three-line order and checks after every step that an
// operation is past waiting only when every earlier step of its line is
// done, that the order is produced exactly when every operation is done,
// and that quantities never go negative. Refused actions must change
// nothing (checked by comparing copies).
func TestRandomActionsKeepInvariants(t *testing.T) {
	t.Parallel()
	kinds := []ActionKind{ActStart, ActPause, ActResume, ActRecord, ActFinish}
	produced := 0
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 42))
		var steps []Step
		for line := 1; line <= 3; line++ {
			for seq := 1; seq <= 1+rng.IntN(3); seq++ {
				steps = append(steps, Step{LineNo: line, Seq: seq, Name: fmt.Sprintf("op%d%d", line, seq), Workstation: "w"})
			}
		}
		ops, err := Plan("o", steps)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ops {
			ops[i].ID = ops[i].Name
		}
		ord := Order{ID: "o", Status: Confirmed}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for step := range 300 {
			now = now.Add(time.Minute)
			switch r := rng.IntN(100); {
			case r < 3:
				Hold(&ord, ops, rng.IntN(2) == 0, "r", now)
			case r < 4 && seed%4 == 0:
				Cancel(&ord, ops, "r", now)
			default:
				k := kinds[rng.IntN(len(kinds))]
				in := ActionInput{EventID: "0190f3c4-7d2a-7b3e-9f00-1234567890ab"}
				switch k {
				case ActPause:
					in.Reason = "r"
				case ActRecord, ActFinish:
					in.GoodQty = rng.IntN(5)
					if k == ActRecord && in.GoodQty == 0 {
						in.GoodQty = 1
					}
				}
				a, err := NewAction(k, in)
				if err != nil {
					t.Fatal(err)
				}
				id := ops[rng.IntN(len(ops))].ID
				beforeOps, beforeOrd := append([]Operation(nil), ops...), ord
				if _, err := Apply(&ord, ops, id, a, Operator{Name: "x"}, now); err != nil {
					for i := range ops {
						if ops[i] != beforeOps[i] {
							t.Fatalf("seed %d step %d: refused %s changed an operation", seed, step, k)
						}
					}
					if ord != beforeOrd {
						t.Fatalf("seed %d step %d: refused %s changed the order", seed, step, k)
					}
				}
			}
			checkInvariants(t, seed, step, ord, ops)
		}
		if ord.Status == Produced {
			produced++
		}
	}
	// The walk must reach the interesting end, not only refusals.
	if produced < 20 {
		t.Fatalf("only %d of 200 random runs produced the order", produced)
	}
	t.Logf("%d of 200 runs produced the order", produced)
}

func checkInvariants(t *testing.T, seed uint64, step int, ord Order, ops []Operation) {
	t.Helper()
	all := true
	for _, op := range ops {
		if op.GoodQty < 0 || op.ScrapQty < 0 {
			t.Fatalf("seed %d step %d: negative quantity on %s", seed, step, op.ID)
		}
		if op.State != Done {
			all = false
		}
		if op.State == Waiting || op.State == Cancelled {
			continue
		}
		for _, prev := range ops {
			if prev.LineNo == op.LineNo && prev.Seq < op.Seq && prev.State != Done {
				t.Fatalf("seed %d step %d: %s is %s while earlier %s is %s", seed, step, op.ID, op.State, prev.ID, prev.State)
			}
		}
	}
	if ord.Status != OrderCancelled && all != (ord.Status == Produced) {
		t.Fatalf("seed %d step %d: all done %v but order %s", seed, step, all, ord.Status)
	}
}
