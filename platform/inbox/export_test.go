package inbox

import (
	"context"
	"time"
)

// Internals the external tests drive directly.

func (in *Inbox) Delay(deliveries int) time.Duration { return in.delay(deliveries) }

func (in *Inbox) StoreDeadLetter(ctx context.Context, consumer string, msg Message, reason error) error {
	return in.deadLetter(ctx, consumer, msg, reason)
}

// StoredPayload is the payload a replay of d would hand to its handler.
func StoredPayload(d DeadLetter) ([]byte, error) { return decodePayload(d.Payload) }

const EventWorker = eventWorker
