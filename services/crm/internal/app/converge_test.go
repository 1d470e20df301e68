package app_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox/inboxtest"
)

// Any order and any duplication of an order's events leaves the CRM's order
// card (order, customer, lines, timeline) and its list counters as the
// events in order do (docs/messaging.md, "Order and duplicates").
func TestEventsConvergeInAnyOrder(t *testing.T) {
	t.Parallel()
	s := inboxtest.OrderStory("o-1", contracts.ChannelShop, t0)
	started := func(f contracts.OperationFinishedV1) contracts.OperationStartedV1 {
		return contracts.OperationStartedV1{OrderID: f.OrderID, LineNo: f.LineNo, Seq: f.Seq, Operation: f.Operation,
			Workstation: f.Workstation, Operator: f.Operator, At: f.At.Add(-time.Minute)}
	}
	histories := map[string][]inboxtest.Event{
		"placed to shipped": {inboxtest.E(contracts.OrderPlaced, s.Placed), inboxtest.E(contracts.OrderPriced, s.Priced),
			inboxtest.E(contracts.OrderInProduction, s.InProduction), inboxtest.E(contracts.OperationStarted, started(s.Finished[0])),
			inboxtest.E(contracts.OperationFinished, s.Finished[0]), inboxtest.E(contracts.OperationStarted, started(s.Finished[1])),
			inboxtest.E(contracts.OperationFinished, s.Finished[1]), inboxtest.E(contracts.OrderProduced, s.Produced),
			inboxtest.E(contracts.OrderShipped, s.Shipped)},
		"cancel requested, cancelled": {inboxtest.E(contracts.OrderPlaced, s.Placed), inboxtest.E(contracts.OrderPriced, s.Priced),
			inboxtest.E(contracts.OrderCancelRequested, s.CancelRequested), inboxtest.E(contracts.OrderCancelled, s.Cancelled)},
	}
	inboxtest.ConvergesEach(t, "o-1", histories, func(t *testing.T) inboxtest.Consumer {
		f := newFixture(t)
		return inboxtest.Consumer{DB: f.db, Handlers: f.h, State: func(t *testing.T) string {
			c, err := f.app.OrderCard(context.Background(), "o-1")
			if err != nil {
				t.Fatalf("order card: %v", err)
			}
			// Not state: the optimistic-lock version counts writes, and a
			// timeline entry's summary says when its event arrived late
			// ("status stays shipped"), which is the point of the record.
			c.Order.Version = 0
			for i := range c.Timeline {
				c.Timeline[i].Summary = ""
			}
			b, err := json.MarshalIndent(c, "", " ")
			if err != nil {
				t.Fatal(err)
			}
			return string(b) + inboxtest.Rows(t, f.db, `SELECT * FROM crm_order_list`) +
				inboxtest.Rows(t, f.db, `SELECT name, CAST(SUM(n) AS BIGINT) AS n FROM (SELECT name, n FROM crm_counters
					UNION ALL SELECT name, delta FROM crm_counter_deltas) AS c GROUP BY name HAVING SUM(n) <> 0 ORDER BY name`) +
				inboxtest.Rows(t, f.db, `SELECT COUNT(*) AS parked FROM crm_parked`)
		}}
	})
}
