package inbox

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Internals the external tests drive directly.

func (in *Inbox) Delay(deliveries int) time.Duration { return in.delay(deliveries) }

func (in *Inbox) StoreDeadLetter(ctx context.Context, consumer string, msg Message, reason error) error {
	return in.deadLetter(ctx, consumer, msg, reason)
}

// StoredPayload is the payload a replay of d would hand to its handler.
func StoredPayload(d DeadLetter) ([]byte, error) { return decodePayload(d.Payload) }

const EventWorker = eventWorker

// ProcessBatch runs msgs, which the test took from the broker itself, as one
// batch of the subscription sub with handlers, as a worker runs what it
// took: so a test decides exactly what a batch holds.
func (in *Inbox) ProcessBatch(ctx context.Context, sub string, handlers map[string]Handler, msgs []jetstream.Msg) {
	batch := make([]fetched, len(msgs))
	for i, m := range msgs {
		batch[i] = fetched{m: m, key: m.Headers().Get("Fabrika-Key"), at: time.Now()}
	}
	in.process(ctx, subscription{name: sub, handlers: handlers}, batch)
}
