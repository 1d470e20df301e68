package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fabrika/fabrika/contracts"
)

// state is what every service's database says, read after the load.
type state struct {
	origin    map[string]string         // order id -> status in the shop or mes-api (the service that took it)
	crm       map[string]string         // order id -> CRM status
	crmEvents map[string]map[string]int // order id -> event type -> timeline rows
	calc      map[string]string         // order id -> mes-calc calculation status
	pricedAt  map[string]time.Time      // order id -> when mes-calc priced it
	operator  map[string]bool           // order id -> mes-operator has it
	outbox    map[string]int            // service -> messages not yet published (pending or error)
	dead      map[string]int            // service -> open dead letters
}

// readState reads every service's database.
func readState(ctx context.Context, dsns map[string]string) (state, error) {
	s := state{origin: map[string]string{}, crm: map[string]string{}, crmEvents: map[string]map[string]int{},
		calc: map[string]string{}, pricedAt: map[string]time.Time{}, operator: map[string]bool{},
		outbox: map[string]int{}, dead: map[string]int{}}
	conns := map[string]*pgx.Conn{}
	defer func() {
		for _, c := range conns {
			_ = c.Close(context.WithoutCancel(ctx))
		}
	}()
	for _, svc := range services {
		c, err := pgx.Connect(ctx, dsns[svc])
		if err != nil {
			return s, fmt.Errorf("%s database: %w", svc, err)
		}
		conns[svc] = c
		var pending, dead int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM outbox").Scan(&pending); err != nil {
			return s, fmt.Errorf("%s outbox: %w", svc, err)
		}
		if err := c.QueryRow(ctx, "SELECT count(*) FROM dead_letter WHERE status = 'open'").Scan(&dead); err != nil {
			return s, fmt.Errorf("%s dead letters: %w", svc, err)
		}
		s.outbox[svc], s.dead[svc] = pending, dead
	}
	rows := func(svc, q string, scan func(pgx.Rows) error) error {
		r, err := conns[svc].Query(ctx, q)
		if err != nil {
			return fmt.Errorf("%s: %w", svc, err)
		}
		defer r.Close()
		for r.Next() {
			if err := scan(r); err != nil {
				return fmt.Errorf("%s: %w", svc, err)
			}
		}
		return r.Err()
	}
	var id, status string
	var n int
	var at int64
	for _, q := range []struct{ svc, sql string }{{"shop", "SELECT id, status FROM orders"}, {"mes-api", "SELECT id, status FROM api_order"}} {
		if err := rows(q.svc, q.sql, func(r pgx.Rows) error {
			if err := r.Scan(&id, &status); err != nil {
				return err
			}
			if _, dup := s.origin[id]; dup {
				s.origin[id] = "duplicate id"
			} else {
				s.origin[id] = status
			}
			return nil
		}); err != nil {
			return s, err
		}
	}
	if err := rows("crm", "SELECT id, status FROM crm_orders", func(r pgx.Rows) error {
		if err := r.Scan(&id, &status); err != nil {
			return err
		}
		s.crm[id] = status
		return nil
	}); err != nil {
		return s, err
	}
	var kind string
	if err := rows("crm", "SELECT order_id, event_type, count(*) FROM crm_timeline GROUP BY order_id, event_type", func(r pgx.Rows) error {
		if err := r.Scan(&id, &kind, &n); err != nil {
			return err
		}
		if s.crmEvents[id] == nil {
			s.crmEvents[id] = map[string]int{}
		}
		s.crmEvents[id][kind] = n
		return nil
	}); err != nil {
		return s, err
	}
	if err := rows("mes-calc", "SELECT order_id, status, calculated_at FROM calculations", func(r pgx.Rows) error {
		if err := r.Scan(&id, &status, &at); err != nil {
			return err
		}
		s.calc[id], s.pricedAt[id] = status, time.UnixMicro(at)
		return nil
	}); err != nil {
		return s, err
	}
	if err := rows("mes-operator", "SELECT order_id FROM orders", func(r pgx.Rows) error {
		if err := r.Scan(&id); err != nil {
			return err
		}
		s.operator[id] = true
		return nil
	}); err != nil {
		return s, err
	}
	return s, nil
}

// verdict is the reconciliation of the orders a client placed against the
// databases: every acknowledged order exactly once everywhere, priced
// everywhere, nothing left in an outbox or a dead-letter table, nothing
// created that nobody acknowledged.
type verdict struct {
	acked       int
	lost        []string // acknowledged, missing in a service
	doubled     []string // two ids for one key, two placements or pricings of one order
	stuck       []string // present everywhere but not priced everywhere
	orphans     []string // created in the shop or mes-api, never acknowledged to anyone
	refused     int      // final 4xx answers
	pending     int      // never answered before the client gave up
	unconfirmed int      // the manager could not confirm them
	outbox      int
	dead        int
	problems    []string // the first few, for the report
}

// ok: nothing went wrong anywhere.
func (v verdict) ok() bool { return v.converged() && v.refused+v.pending+v.unconfirmed == 0 }

// converged: the databases agree on every acknowledged order and hold
// nothing in flight; what the clients saw (refusals, orders they gave up)
// is final and does not change by waiting.
func (v verdict) converged() bool {
	return len(v.lost)+len(v.doubled)+len(v.stuck)+len(v.orphans)+v.outbox+v.dead == 0
}

// reconcile checks the converged state of every acknowledged order, which
// the manager confirmed once priced: the shop or mes-api and the CRM show it
// confirmed, mes-calc priced it (once: one order.priced in the CRM's
// timeline), mes-operator has it (order.confirmed made it a production
// order).
func reconcile(orders []order, s state) verdict {
	var v verdict
	note := func(list *[]string, id, format string, args ...any) {
		*list = append(*list, id)
		if len(v.problems) < 20 {
			v.problems = append(v.problems, id+": "+fmt.Sprintf(format, args...))
		}
	}
	ids := map[string]string{} // id -> key
	for _, o := range orders {
		switch {
		case o.refused != "":
			v.refused++
			continue
		case o.acked.IsZero():
			v.pending++
			continue
		}
		v.acked++
		if k, dup := ids[o.id]; dup {
			note(&v.doubled, o.id, "acknowledged to two keys %s and %s", k, o.key)
			continue
		}
		ids[o.id] = o.key
		var missing []string
		if _, ok := s.origin[o.id]; !ok {
			missing = append(missing, o.channel)
		}
		if _, ok := s.crm[o.id]; !ok {
			missing = append(missing, "crm")
		}
		if _, ok := s.calc[o.id]; !ok {
			missing = append(missing, "mes-calc")
		}
		if !s.operator[o.id] {
			missing = append(missing, "mes-operator")
		}
		if len(missing) > 0 {
			note(&v.lost, o.id, "missing in %s", strings.Join(missing, ", "))
			continue
		}
		ev := s.crmEvents[o.id]
		if ev[contracts.OrderPlaced] > 1 || ev[contracts.OrderPriced] > 1 || ev[contracts.OrderConfirmed] > 1 || s.origin[o.id] == "duplicate id" {
			note(&v.doubled, o.id, "CRM timeline: %d order.placed, %d order.priced, %d order.confirmed",
				ev[contracts.OrderPlaced], ev[contracts.OrderPriced], ev[contracts.OrderConfirmed])
			continue
		}
		if s.origin[o.id] != contracts.StatusConfirmed || s.crm[o.id] != contracts.StatusConfirmed || s.calc[o.id] != contracts.StatusPriced {
			note(&v.stuck, o.id, "%s %s, crm %s, mes-calc %s", o.channel, s.origin[o.id], s.crm[o.id], s.calc[o.id])
		}
	}
	var extra []string
	for id := range s.origin {
		if _, ok := ids[id]; !ok {
			extra = append(extra, id)
		}
	}
	sort.Strings(extra)
	for _, id := range extra {
		note(&v.orphans, id, "created (%s) but acknowledged to no client", s.origin[id])
	}
	for _, svc := range services {
		if n := s.outbox[svc]; n > 0 {
			v.outbox += n
			v.problems = append(v.problems, fmt.Sprintf("%s: %d messages left in the outbox", svc, n))
		}
		if n := s.dead[svc]; n > 0 {
			v.dead += n
			v.problems = append(v.problems, fmt.Sprintf("%s: %d open dead letters", svc, n))
		}
	}
	return v
}
