package app

import (
	"context"

	"github.com/fabrika/fabrika/platform/ordertrace"
)

// Trace is mes-calc's part of `fabrika order trace` (an ordertrace.Finder):
// its calculation of the order.
func (a *App) Trace(ctx context.Context, ref string) (ordertrace.Summary, bool, error) {
	return a.store.Trace(ctx, a.db, ref)
}
