package app_test

import (
	"fmt"
	"testing"

	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
)

// BenchmarkQueue reads a workstation's queue in priority order with 1,000
// open orders planned (2,000 operations, 1,000 of them on the station; the
// first 200 are listed).
func BenchmarkQueue(b *testing.B) {
	e := newEnv(b)
	for i := range 1000 {
		e.confirm(confirmed(fmt.Sprintf("o%04d", i), fmt.Sprintf("2026-%02d-%02d", 1+i%12, 1+i%28), i%7 == 0))
	}
	b.ResetTimer()
	for b.Loop() {
		if q := e.queue(ana, "laser1"); len(q) != 200 {
			b.Fatalf("queue has %d items", len(q))
		}
	}
}

// BenchmarkOperationCycle runs one operation's start and finish (two
// operator actions, each a transaction with its event id, state change and
// outbox message) per iteration.
func BenchmarkOperationCycle(b *testing.B) {
	e := newEnv(b)
	var ids []string
	for i := range b.N {
		id := fmt.Sprintf("o%06d", i)
		e.confirm(confirmed(id, "2026-03-01", false))
		ids = append(ids, e.opID(id, 1))
	}
	b.ResetTimer()
	for i := range b.N {
		e.mustAct(ana, ids[i], production.ActStart, production.ActionInput{})
		e.mustAct(ana, ids[i], production.ActFinish, production.ActionInput{GoodQty: 1})
	}
}
