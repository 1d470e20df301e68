package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/ordertrace"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/store"
)

// Page is one page of the orders list with the counts per status.
type Page struct {
	Rows   []store.ListRow  `json:"orders"`
	Next   string           `json:"next_cursor,omitempty"`
	Counts map[string]int64 `json:"counts"`
	// JSON is the page encoded for the API, once: cached pages are served
	// as they are, and the ETag is its hash.
	JSON []byte `json:"-"`
	ETag string `json:"-"`
}

// ListOrders returns a page of the orders list, from the cache when it is
// there, with the counters.
func (a *App) ListOrders(ctx context.Context, q listquery.Query) (Page, error) {
	key := q.Key()
	gen := a.cache.generation()
	cp, ok := a.cache.get(key)
	if !ok {
		rows, next, err := a.store.List(ctx, a.db, q)
		if err != nil {
			return Page{}, err
		}
		if rows == nil {
			rows = []store.ListRow{}
		}
		cp = cachedPage{q: q, rows: rows, next: next}
		head, err := json.Marshal(struct {
			Rows []store.ListRow `json:"orders"`
			Next string          `json:"next_cursor,omitempty"`
		}{rows, next})
		if err != nil {
			return Page{}, fmt.Errorf("encode orders page: %w", err)
		}
		cp.head = head[:len(head)-1] // without its closing brace: the counters follow
		a.cache.put(key, gen, cp)
	}
	counts, countsJSON, err := a.counts(ctx, gen)
	if err != nil {
		return Page{}, err
	}
	// As json.Marshal(Page) writes it.
	body := make([]byte, 0, len(cp.head)+len(`,"counts":`)+len(countsJSON)+2)
	body = append(append(append(append(body, cp.head...), `,"counts":`...), countsJSON...), "}\n"...)
	return Page{Rows: cp.rows, Next: cp.next, Counts: counts, JSON: body, ETag: etag(body)}, nil
}

// counts returns the counters and their JSON, read once per generation of
// the cache (every committed write to orders starts a new one), even when
// pages are not cached: every page shows the same counts.
func (a *App) counts(ctx context.Context, gen uint64) (map[string]int64, []byte, error) {
	if c, j, ok := a.cache.getCounts(); ok {
		return c, j, nil
	}
	c, err := a.store.Counts(ctx, a.db)
	if err != nil {
		return nil, nil, err
	}
	j, err := json.Marshal(c)
	if err != nil {
		return nil, nil, fmt.Errorf("encode counters: %w", err)
	}
	a.cache.putCounts(gen, c, j)
	return c, j, nil
}

// Card is everything the order card shows.
type Card struct {
	Order         store.Order          `json:"order"`
	Customer      store.Customer       `json:"customer"`
	Lines         []store.Line         `json:"lines"`
	Timeline      []store.Event        `json:"timeline"`
	Notes         []store.Note         `json:"notes"`
	Compensations []store.Compensation `json:"compensations"`
	// Floor is each step the shop floor started or finished: where the
	// order is in production.
	Floor []store.Step `json:"shop_floor"`
}

// FoldCounters moves the appended changes of the counters and of the
// customers' figures into them (the service does it every second); they
// read the same before and after. It returns how many changes it moved.
func (a *App) FoldCounters(ctx context.Context) (int, error) {
	n, err := a.store.FoldCounters(ctx)
	if err != nil {
		return n, err
	}
	m, err := a.store.FoldCustomers(ctx)
	return n + m, err
}

// OrderCard returns an order's card.
func (a *App) OrderCard(ctx context.Context, id string) (Card, error) {
	var c Card
	var err error
	if c.Order, c.Customer, err = a.store.OrderWithCustomer(ctx, a.db, id); err != nil {
		return c, err
	}
	if c.Lines, err = a.store.Lines(ctx, a.db, id); err != nil {
		return c, err
	}
	if c.Timeline, err = a.store.Timeline(ctx, a.db, id); err != nil {
		return c, err
	}
	if c.Notes, err = a.store.Notes(ctx, a.db, false, id, 200); err != nil {
		return c, err
	}
	if c.Compensations, err = a.store.Compensations(ctx, a.db, false, id, 200); err != nil {
		return c, err
	}
	c.Floor, err = a.store.Floor(ctx, a.db, id)
	return c, err
}

// CustomerCard is everything the customer card shows.
type CustomerCard struct {
	Customer      store.Customer       `json:"customer"`
	Orders        []store.ListRow      `json:"orders"`
	Compensations []store.Compensation `json:"compensations"`
	Notes         []store.Note         `json:"notes"`
}

// CustomerCard returns a customer's card with their latest orders.
func (a *App) CustomerCard(ctx context.Context, id string) (CustomerCard, error) {
	var c CustomerCard
	var err error
	if c.Customer, err = a.store.GetCustomer(ctx, a.db, id); err != nil {
		return c, err
	}
	if c.Orders, err = a.store.OrdersOfCustomer(ctx, a.db, id, 100); err != nil {
		return c, err
	}
	if c.Compensations, err = a.store.Compensations(ctx, a.db, true, id, 200); err != nil {
		return c, err
	}
	c.Notes, err = a.store.Notes(ctx, a.db, true, id, 200)
	return c, err
}

// StuckOrder is an order past its status's threshold.
type StuckOrder struct {
	store.ListRow
	InStatus  string `json:"in_status_for"`
	Threshold string `json:"threshold"`
}

// Stuck returns the orders past their status's threshold, oldest first, and
// how many events wait for an order that never arrived.
func (a *App) Stuck(ctx context.Context, limit int) ([]StuckOrder, int64, error) {
	now := a.now()
	rows, err := a.store.Stuck(ctx, a.db, a.thresholds, now, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]StuckOrder, len(rows))
	for i, r := range rows {
		out[i] = StuckOrder{ListRow: r, InStatus: Duration(now.Sub(r.StatusSince)),
			Threshold: Duration(a.thresholds[r.Status])}
	}
	parked, err := a.store.CountParked(ctx, a.db)
	return out, parked, err
}

// Thresholds returns the stuck thresholds per status.
func (a *App) Thresholds() map[string]time.Duration { return a.thresholds }

// Duration writes a duration as people do: "24 h", "3 d 4 h", "45 min"
// (ordertrace.Duration, which `fabrika order trace` uses too).
func Duration(d time.Duration) string { return ordertrace.Duration(d) }

// Customers returns the customers whose name, e-mail or company contains
// search (all when empty), the biggest spenders first.
func (a *App) Customers(ctx context.Context, search string, limit int) ([]store.Customer, error) {
	return a.store.Customers(ctx, a.db, search, limit)
}
