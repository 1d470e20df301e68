package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/broker"
)

// Events are the order events of the platform's stream as they arrive,
// each with the time its own service stamped on it: how a load measures
// an order's path without asking any service for it while it runs.
type Events struct {
	nc   *nats.Conn
	stop func()

	mu sync.Mutex
	at map[string]map[string]time.Time // order id -> event type -> the first such event's time
}

// Watch reads the order events published from now on from the broker at
// natsURL with an ordered consumer (ephemeral, flow-controlled, no acks:
// one more reader of the stream, which changes nothing for the services'
// durable consumers) until Close.
func Watch(ctx context.Context, natsURL string, types ...string) (*Events, error) {
	nc, err := nats.Connect(natsURL, nats.Name("fabrika load"), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect to the broker at %s: %w", natsURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	subjects := make([]string, len(types))
	for i, t := range types {
		subjects[i] = contracts.Subject(t)
	}
	cons, err := js.OrderedConsumer(ctx, broker.StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("read the stream %s: %w", broker.StreamName, err)
	}
	e := &Events{nc: nc, at: map[string]map[string]time.Time{}}
	cc, err := cons.Consume(func(m jetstream.Msg) { e.add(m.Subject(), m.Data()) })
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("read the stream %s: %w", broker.StreamName, err)
	}
	e.stop = cc.Stop
	return e, nil
}

// stamped is what every order event says of itself: its order and when it
// happened (order.placed says placed_at, order.priced priced_at, the
// others at).
type stamped struct {
	OrderID  string    `json:"order_id"`
	PlacedAt time.Time `json:"placed_at"`
	PricedAt time.Time `json:"priced_at"`
	At       time.Time `json:"at"`
}

func (e *Events) add(subject string, data []byte) {
	t := contracts.EventType(subject)
	if t == "" {
		return
	}
	var s stamped
	if json.Unmarshal(data, &s) != nil || s.OrderID == "" {
		return
	}
	at := s.At
	for _, v := range []time.Time{s.PlacedAt, s.PricedAt} {
		if !v.IsZero() {
			at = v
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.at[s.OrderID]
	if m == nil {
		m = map[string]time.Time{}
		e.at[s.OrderID] = m
	}
	if _, seen := m[t]; !seen { // a redelivered event is the same event
		m[t] = at
	}
}

// Times returns when each event of each order in ids happened (an order
// without events is missing).
func (e *Events) Times(ids []string) map[string]map[string]time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]map[string]time.Time, len(ids))
	for _, id := range ids {
		if m, ok := e.at[id]; ok {
			out[id] = maps.Clone(m)
		}
	}
	return out
}

// Count is how many of the orders in ids had an event of type t.
func (e *Events) Count(ids []string, t string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, id := range ids {
		if _, ok := e.at[id][t]; ok {
			n++
		}
	}
	return n
}

// Close stops reading.
func (e *Events) Close() {
	e.stop()
	e.nc.Close()
}
