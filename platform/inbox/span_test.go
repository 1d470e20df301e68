package inbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// TestSpanStartsOnReceipt: a message's span starts when the inbox took it
// from the broker and marks when a worker took it, so that a trace shows the
// wait for a worker apart from the processing. Before, the span started
// with the processing and the wait was in no trace.
func TestSpanStartsOnReceipt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := testenv.DB(t, effectMigrations)
	js := newStream(ctx, t, "inbox-span-test")
	sr := tracetest.NewSpanRecorder()
	in, err := inbox.New(db, js, inbox.Config{Service: "span"}, testenv.Logger(t), nil, sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var received time.Time
	in.Subscribe("span", map[string]inbox.Handler{
		"fabrika.test.span": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
			mu.Lock()
			received = m.Received
			mu.Unlock()
			return nil
		},
	})
	runInbox(t, ctx, in)
	msg := nats.NewMsg("fabrika.test.span")
	msg.Header.Set("Nats-Msg-Id", "s-1")
	msg.Header.Set("Fabrika-Key", "k")
	msg.Data = []byte(`{}`)
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := len(sr.Ended()); n == 0 {
			return fmt.Errorf("no span ended yet")
		}
		return nil
	})
	span := sr.Ended()[0]
	mu.Lock()
	defer mu.Unlock()
	if received.IsZero() || !span.StartTime().Equal(received) {
		t.Errorf("span %q starts at %v, the message was received at %v", span.Name(), span.StartTime(), received)
	}
	var worker []string
	for _, e := range span.Events() {
		if e.Name == inbox.EventWorker && !e.Time.Before(received) {
			worker = append(worker, e.Name)
		}
	}
	if len(worker) != 1 {
		t.Errorf("span events %v, want one %q after the receipt", span.Events(), inbox.EventWorker)
	}
}
