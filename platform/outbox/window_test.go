package outbox_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// holdingBroker is a publisher that acknowledges nothing until the test
// says so: what the relay has published and not had acknowledged is in
// plain sight, as on a replicated stream whose acknowledgements take a
// round trip.
type holdingBroker struct {
	mu   sync.Mutex
	acks []*heldAck
}

type heldAck struct {
	msg *nats.Msg
	ok  chan *jetstream.PubAck
	err chan error
}

func (a *heldAck) Ok() <-chan *jetstream.PubAck { return a.ok }
func (a *heldAck) Err() <-chan error            { return a.err }
func (a *heldAck) Msg() *nats.Msg               { return a.msg }

func (b *holdingBroker) PublishMsgAsync(m *nats.Msg, _ ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	a := &heldAck{msg: m, ok: make(chan *jetstream.PubAck, 1), err: make(chan error, 1)}
	b.mu.Lock()
	b.acks = append(b.acks, a)
	b.mu.Unlock()
	return a, nil
}

// published lists the ids of the messages published so far, in order.
func (b *holdingBroker) published() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := make([]string, len(b.acks))
	for i, a := range b.acks {
		ids[i] = a.msg.Header.Get(outbox.HeaderMsgID)
	}
	return ids
}

// answer acknowledges the message id, or refuses it with err.
func (b *holdingBroker) answer(t *testing.T, id string, err error) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range b.acks {
		if a.msg.Header.Get(outbox.HeaderMsgID) == id {
			if err != nil {
				a.err <- err
			} else {
				a.ok <- &jetstream.PubAck{Stream: "FABRIKA"}
			}
			return
		}
	}
	t.Fatalf("%s was not published", id)
}

// waitPublished waits until the broker got exactly want, in any order.
func (b *holdingBroker) waitPublished(t *testing.T, want ...string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		got := b.published()
		slices.Sort(got)
		w := slices.Sorted(slices.Values(want))
		if !slices.Equal(got, w) {
			return fmt.Errorf("published %v, want %v", got, w)
		}
		return nil
	})
}

// refusal is a broker's refusal of a message (not an outage): it spends an
// attempt.
var refusal = &jetstream.APIError{Code: 400, ErrorCode: 10060, Description: "expected stream does not match"}

// holdingFixture is a fixture whose relay publishes to a holdingBroker. The
// timeouts are long: only the test's answers end a publish.
func holdingFixture(t *testing.T, e sqldb.Engine, cfg outbox.Config) (*fixture, *holdingBroker) {
	t.Helper()
	cfg.PublishTimeout, cfg.Lease = time.Minute, 2*time.Minute
	cfg.BaseBackoff, cfg.MaxBackoff, cfg.Interval = time.Hour, time.Hour, time.Hour
	b := &holdingBroker{}
	f := &fixture{db: testenv.DBOn(t, e, nil), reg: prometheus.NewRegistry()}
	out, err := outbox.New(f.db, b, cfg, testenv.Logger(t), f.reg)
	if err != nil {
		t.Fatal(err)
	}
	f.out = out
	return f, b
}

// startRelay runs f's relay until the test ends, without waiting for its
// first sweep (which may wait for acknowledgements the test holds). At the
// end every publish still unanswered is refused, so that the relay stops.
func (b *holdingBroker) startRelay(t *testing.T, f *fixture) {
	t.Helper()
	f.startRelay(t, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, a := range b.acks {
			select {
			case a.err <- refusal:
			default:
			}
		}
	})
}

// A sweep claims and publishes its next batch while the earlier one still
// waits for its acknowledgements, and never a later message of a key in
// flight: with batches of 2, three messages of three keys are published
// with none acknowledged, the second message of a key in flight is not;
// once its first is refused, it stays behind that failure.
func TestSweepPublishesBatchesWhileEarlierAwaitAcks(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		f, b := holdingFixture(t, e, outbox.Config{BatchSize: 2, MaxInFlight: 8})
		// Written before the relay runs: unleased, for the sweeps.
		ids := f.enqueue(t, [2]string{"fabrika.x", "a"}, [2]string{"fabrika.x", "b"}, [2]string{"fabrika.x", "a"},
			[2]string{"fabrika.x", "c"})
		a1, b1, a2, c1 := ids[0], ids[1], ids[2], ids[3]
		b.startRelay(t, f)
		// The claim that took c1 passed over a2: its key's a1 is leased.
		b.waitPublished(t, a1, b1, c1)
		b.answer(t, b1, nil)
		b.answer(t, c1, nil)
		b.answer(t, a1, refusal)
		testenv.Eventually(t, 10*time.Second, func() error {
			if _, attempts, _, _ := f.row(t, a1); attempts != 1 {
				return fmt.Errorf("a1 has %d attempts, want 1", attempts)
			}
			return nil
		})
		f.waitSweeps(t, 2)
		for _, id := range []string{b1, c1} {
			if _, _, _, ok := f.row(t, id); ok {
				t.Errorf("acknowledged %s is still in the outbox", id)
			}
		}
		if _, attempts, _, ok := f.row(t, a2); !ok || attempts != 0 || lease(t, context.Background(), f.db, a2) != 0 {
			t.Fatalf("a2 behind its key's failure: present=%v attempts=%d, want waiting untouched", ok, attempts)
		}
		if got := b.published(); len(got) != 3 {
			t.Fatalf("published %v: a2 went out behind its key's refused a1", got)
		}
	})
}

// The fast lane publishes a committed message while the messages committed
// before it still wait for their acknowledgements.
func TestFastLanePublishesWhileEarlierAwaitAcks(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		f, b := holdingFixture(t, e, outbox.Config{})
		b.startRelay(t, f)
		f.waitSweeps(t, 1) // the fast lane is open
		first := f.enqueue(t, [2]string{"fabrika.x", "a"})
		b.waitPublished(t, first...)
		second := f.enqueue(t, [2]string{"fabrika.x", "b"})
		b.waitPublished(t, first[0], second[0])
		b.answer(t, first[0], nil)
		b.answer(t, second[0], nil)
		f.waitEmpty(t, 10*time.Second)
	})
}

// Two messages of one key in the fast lane at once (two transactions that
// were not serialised both wrote theirs leased) go one after the other: the
// second waits for the first's acknowledgement, and is left to the sweeps
// when the first is refused, while another key's message goes at once.
func TestFastLaneKeepsAKeysMessagesInOrder(t *testing.T) {
	t.Parallel()
	f, b := holdingFixture(t, sqldb.SQLite, outbox.Config{})
	b.startRelay(t, f)
	f.waitSweeps(t, 1)
	msg := func(key string) outbox.Message {
		m, err := outbox.NewMessage("fabrika.x", key, map[string]string{"key": key})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a1, a2, c1 := msg("a"), msg("a"), msg("c")
	f.out.PushFast(a1)
	b.waitPublished(t, a1.ID)
	f.out.PushFast(a2)
	f.out.PushFast(c1)
	b.waitPublished(t, a1.ID, c1.ID)
	b.answer(t, c1.ID, nil)
	b.answer(t, a1.ID, refusal)
	testenv.EventuallyTrue(t, 10*time.Second, "the fast lane recorded everything", func() bool { return f.out.FastHeld() == 0 })
	if got := b.published(); slices.Contains(got, a2.ID) {
		t.Fatalf("published %v: a2 went out behind its key's refused a1", got)
	}
}

// After a failed statement the relay gives back the leases it took before
// it (releaseForgotten), but not those of the messages it still publishes:
// a batch of the window awaiting its acknowledgement keeps its lease, so
// no claim takes the later message of its key meanwhile.
func TestGivingBackLeasesSparesBatchesInFlight(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		f, b := holdingFixture(t, e, outbox.Config{BatchSize: 1, MaxInFlight: 8})
		ids := f.enqueue(t, [2]string{"fabrika.x", "a"}, [2]string{"fabrika.x", "a"}, [2]string{"fabrika.x", "b"})
		a1, b1 := ids[0], ids[2]
		b.startRelay(t, f)
		b.waitPublished(t, a1, b1)
		f.out.NoteDatabaseError()
		// b1's record ends the sweep's wait; its next claim succeeds and
		// gives back what the relay took before the failure.
		b.answer(t, b1, nil)
		testenv.EventuallyTrue(t, 10*time.Second, "the leases of before the failure given back", func() bool {
			return !f.out.DatabaseFailureNoted()
		})
		if lease(t, ctx, f.db, a1) == 0 {
			t.Fatal("a1, still awaiting its acknowledgement, lost its lease")
		}
		other, err := outbox.New(f.db, nil, outbox.Config{}, testenv.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := other.ClaimIDs(ctx); err != nil || len(got) != 0 {
			t.Fatalf("another relay claimed %v (%v) while a1 is in flight", got, err)
		}
		b.answer(t, a1, nil)
		b.waitPublished(t, ids...)
		if got := b.published(); got[2] != ids[1] {
			t.Fatalf("published %v, want a1 and b1, then a2", got)
		}
		b.answer(t, ids[1], nil)
		f.waitEmpty(t, 10*time.Second)
	})
}
