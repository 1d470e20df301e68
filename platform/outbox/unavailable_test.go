package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// A broker that cannot take a message now (nobody answers the subject, as
// while a stream elects its leader; no acknowledgement in time) spends no
// delivery attempt, however often it happens; a refusal does.
func TestBrokerUnavailableSpendsNoAttempt(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		f := newFixture(t, e, outbox.Config{MaxAttempts: 2, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
			PublishTimeout: 50 * time.Millisecond}, true)
		// A plain subscriber on the subject that never answers: the publish
		// times out.
		nc := testenv.NewBroker(t).Connect(t, "silent")
		if _, err := nc.Subscribe("silent.>", func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		ids := f.enqueue(t, [2]string{subjectNoStream, "a"}, [2]string{"silent.x", "b"}, [2]string{subjectRefused, "c"})
		for range 4 {
			if _, err := f.out.Cycle(ctx); err != nil {
				t.Fatal(err)
			}
			// Let the short retry delay pass in database time.
			if _, err := f.db.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = 1 WHERE next_attempt_at > 1`); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range ids[:2] {
			status, attempts, _, ok := f.row(t, id)
			if !ok || status != "pending" || attempts != 0 {
				t.Errorf("%s after 4 unavailable publishes: present=%v status=%s attempts=%d, want pending with no attempt spent", id, ok, status, attempts)
			}
		}
		if status, attempts, _, _ := f.row(t, ids[2]); status != "error" || attempts != 2 {
			t.Errorf("refused message: status %s, %d attempts, want error after 2", status, attempts)
		}
		if got, err := (outboxCounter{f: f, kind: "unavailable"}).value(); err != nil || got < 8 {
			t.Errorf("unavailable publishes counted %v (%v), want at least 8", got, err)
		}
	})
}

// outboxCounter reads one series of fabrika_outbox_publish_errors_total.
type outboxCounter struct {
	f    *fixture
	kind string
}

func (c outboxCounter) value() (float64, error) {
	mfs, err := c.f.reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != "fabrika_outbox_publish_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == c.kind {
					return m.GetCounter().GetValue(), nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no series kind=%s", c.kind)
}

// The errors that mean "the broker cannot take it now" and those that mean
// "the broker refuses it", as the clients and servers give them.
func TestBrokerUnavailableClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err         error
		unavailable bool
	}{
		{jetstream.ErrNoStreamResponse, true},
		{fmt.Errorf("publish: %w", nats.ErrNoResponders), true},
		{nats.ErrTimeout, true},
		{jetstream.ErrAsyncPublishTimeout, true},
		{nats.ErrConnectionClosed, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{&jetstream.APIError{Code: 500, ErrorCode: 10118, Description: "stream is offline"}, true},
		{&jetstream.APIError{Code: 400, ErrorCode: 10060, Description: "expected stream does not match"}, false},
		{&jetstream.APIError{Code: 400, ErrorCode: 10054, Description: "message size exceeds maximum allowed"}, false},
		{errors.New("something else"), false},
	}
	for _, tc := range tests {
		if got := outbox.BrokerUnavailable(fmt.Errorf("publish: %w", tc.err)); got != tc.unavailable {
			t.Errorf("%v: unavailable %v, want %v", tc.err, got, tc.unavailable)
		}
	}
}
