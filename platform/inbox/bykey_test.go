package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// TestByKey: the inbox records each processed message with its key, its
// trace and its delivery, so that ByKey answers what a service took in of
// one order, and which of its messages it dead-lettered.
func TestByKey(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		db := testenv.DBOn(t, e, nil)
		js := newStream(ctx, t, "inbox-bykey-"+string(e))
		in := newInbox(t, db, js, inbox.Config{Service: "bykey-" + string(e), BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}, nil)
		subject := "fabrika.test.bykey." + string(e)
		in.Subscribe("things", map[string]inbox.Handler{
			subject: func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
				if string(m.Payload) == `"poison"` {
					return inbox.Permanent(errors.New("cannot be processed"))
				}
				return nil
			},
		})
		runInbox(t, ctx, in)
		id := func(n int) string { return fmt.Sprintf("%s-m-%d", e, n) }
		const traceA, traceB = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
		for i, m := range []struct{ key, trace, payload string }{
			{"order-1", traceA, `"ok"`}, {"order-1", traceA, `"poison"`}, {"order-2", traceB, `"ok"`}, {"order-1", traceB, `"ok"`},
		} {
			msg := nats.NewMsg(subject)
			msg.Header.Set("Nats-Msg-Id", id(i))
			msg.Header.Set("Fabrika-Key", m.key)
			msg.Header.Set("traceparent", "00-"+m.trace+"-00f067aa0ba902b7-01")
			msg.Data = []byte(m.payload)
			if _, err := js.PublishMsg(ctx, msg); err != nil {
				t.Fatal(err)
			}
		}
		var h inbox.KeyHistory
		testenv.Eventually(t, 30*time.Second, func() error {
			var err error
			if h, err = inbox.ByKey(ctx, db, "order-1", 0); err != nil {
				return err
			}
			if len(h.Processed) != 2 || len(h.DeadLetters) != 1 {
				return fmt.Errorf("order-1: %+v", h)
			}
			return nil
		})
		consumer := "bykey-" + string(e) + "-things"
		got := map[string]inbox.Record{}
		for _, r := range h.Processed {
			got[r.MsgID] = r
		}
		for _, want := range []inbox.Record{
			{Consumer: consumer, MsgID: id(0), Subject: subject, Key: "order-1", TraceID: traceA, Deliveries: 1},
			{Consumer: consumer, MsgID: id(3), Subject: subject, Key: "order-1", TraceID: traceB, Deliveries: 1},
		} {
			r := got[want.MsgID]
			if r.ProcessedAt.IsZero() {
				t.Errorf("%s: no processing time", want.MsgID)
			}
			r.ProcessedAt = time.Time{}
			if r != want {
				t.Errorf("record %+v, want %+v", r, want)
			}
		}
		if d := h.DeadLetters[0]; d.MsgID != id(1) || d.Key != "order-1" || d.TraceID != traceA || d.Status != "open" || d.Consumer != consumer {
			t.Errorf("dead letter %+v, want %s of order-1 in trace %s", d, id(1), traceA)
		}
		// Messages of different keys are handled in any order: order-2's
		// may come after order-1's.
		testenv.Eventually(t, 30*time.Second, func() error {
			other, err := inbox.ByKey(ctx, db, "order-2", 0)
			if err != nil || len(other.Processed) != 1 || other.Processed[0].MsgID != id(2) || len(other.DeadLetters) != 0 {
				return fmt.Errorf("order-2: %+v (%v), want %s alone", other, err, id(2))
			}
			return nil
		})
		none, err := inbox.ByKey(ctx, db, "order-3", 0)
		if err != nil || len(none.Processed) != 0 || len(none.DeadLetters) != 0 {
			t.Errorf("an unknown key: %+v (%v), want nothing", none, err)
		}
	})
}
