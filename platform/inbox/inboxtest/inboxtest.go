// Package inboxtest checks a consumer against the rule every handler of
// Fabrika keeps (docs/messaging.md, "Order and duplicates"): the broker
// keeps the order of an aggregate's messages into the stream, not up to the
// handler, so the events of one aggregate delivered in any order, some of
// them more than once, must leave the consumer in the state the history
// delivered in order, once, leaves.
package inboxtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// Event is one message of an aggregate's history: its subject and payload
// (marshalled to JSON).
type Event struct {
	Subject string
	Payload any
}

// Consumer is a new instance of a consuming service, with a database of its
// own: its handlers by subject, and State, a description of what it knows
// of the aggregate that two equal states render equally (sorted, without
// the times of processing).
type Consumer struct {
	DB       *sqldb.DB
	Handlers map[string]inbox.Handler
	State    func(t *testing.T) string
}

// Rounds is how many random deliveries Converges tries per history; on
// PostgreSQL, where each round costs a new database, fewer (the handlers'
// logic is the same on both engines).
func Rounds() int {
	if testenv.Postgres() {
		return 4
	}
	return 24
}

// Converges delivers the history of the aggregate key in order, once, to a
// new consumer, then Rounds() times in a random order with random duplicates
// to a new consumer each, and fails the test when a state differs. As the
// broker redelivers a message whose handler failed, a failed delivery is
// delivered again after the others; a permanent failure (a dead letter) or
// a message that keeps failing after everything else was delivered fails
// the test. The seed of each round is in the failure message.
func Converges(t *testing.T, key string, history []Event, newConsumer func(t *testing.T) Consumer) {
	t.Helper()
	msgs := make([]inbox.Message, len(history))
	for i, e := range history {
		b, err := json.Marshal(e.Payload)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		msgs[i] = inbox.Message{ID: fmt.Sprintf("%s-%02d", key, i), Subject: e.Subject, Key: key, Payload: b,
			Headers: map[string]string{}, Deliveries: 1}
	}
	want := run(t, newConsumer(t), msgs)
	for round := range Rounds() {
		seed := uint64(time.Now().UnixNano()) + uint64(round)
		r := rand.New(rand.NewPCG(seed, uint64(round)))
		order := append([]inbox.Message(nil), msgs...)
		for _, m := range msgs {
			if r.IntN(2) == 0 {
				order = append(order, m) // a duplicate delivery
			}
		}
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		if got := run(t, newConsumer(t), order); got != want {
			ids := make([]string, len(order))
			for i, m := range order {
				ids[i] = fmt.Sprintf("%s(%s)", m.ID, m.Subject)
			}
			t.Fatalf("round %d (seed %d): delivered %v\nstate:\n%s\nwant (in order, once):\n%s", round, seed, ids, got, want)
		}
	}
}

// ConvergesEach runs Converges on each history of the aggregate key, a
// parallel subtest per name.
func ConvergesEach(t *testing.T, key string, histories map[string][]Event, newConsumer func(t *testing.T) Consumer) {
	t.Helper()
	for name, history := range histories {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			Converges(t, key, history, newConsumer)
		})
	}
}

// run delivers msgs in order through the inbox's delivery transaction,
// redelivering failed ones after the rest, and returns the final state.
func run(t *testing.T, c Consumer, msgs []inbox.Message) string {
	t.Helper()
	ctx := context.Background()
	queue := append([]inbox.Message(nil), msgs...)
	failures := map[string]int{}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		h, ok := c.Handlers[m.Subject]
		if !ok {
			t.Fatalf("the consumer has no handler for %s", m.Subject)
		}
		_, err := inbox.Deliver(ctx, c.DB, "inboxtest", h, m)
		switch {
		case err == nil:
		case errors.Is(err, inbox.ErrPermanent):
			t.Fatalf("%s (%s) would be dead-lettered: %v", m.ID, m.Subject, err)
		default:
			failures[m.ID]++
			if failures[m.ID] > len(msgs)+1 {
				t.Fatalf("%s (%s) keeps failing after everything else was delivered: %v", m.ID, m.Subject, err)
			}
			m.Deliveries++
			queue = append(queue, m)
		}
	}
	return c.State(t)
}
