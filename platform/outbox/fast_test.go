package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// runRelay runs the fixture's relay until the test ends and waits for its
// first sweep.
func (f *fixture) runRelay(t *testing.T) {
	t.Helper()
	f.startRelay(t, nil)
	f.waitSweeps(t, 1)
}

// startRelay runs the fixture's relay until the test ends; at the end,
// stopping (when set) runs between the relay's cancel and the wait for it.
func (f *fixture) startRelay(t *testing.T, stopping func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.out.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if stopping != nil {
			stopping()
		}
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
}

// waitSweeps waits until the relay has finished n more sweeps than it had
// when called: whatever they were to do to the table is done.
func (f *fixture) waitSweeps(t *testing.T, n int64) {
	t.Helper()
	target := f.out.Sweeps() + n
	testenv.Eventually(t, 10*time.Second, func() error {
		f.out.Wake()
		if got := f.out.Sweeps(); got < target {
			return fmt.Errorf("%d sweeps, waiting for %d", got, target)
		}
		return nil
	})
}

// lease reads a message's lease (0 when it is not leased).
func lease(t *testing.T, ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) int64 {
	t.Helper()
	var until int64
	if err := q.QueryRowContext(ctx, `SELECT lease_until FROM outbox WHERE id = $1`, id).Scan(&until); err != nil {
		t.Fatalf("lease of %s: %v", id, err)
	}
	return until
}

// waitEmpty waits until the outbox holds no message.
func (f *fixture) waitEmpty(t *testing.T, within time.Duration) {
	t.Helper()
	testenv.Eventually(t, within, func() error {
		var left int
		if err := f.db.QueryRow(`SELECT COUNT(*) FROM outbox`).Scan(&left); err != nil {
			return err
		}
		if left != 0 {
			return fmt.Errorf("%d messages still in the outbox", left)
		}
		return nil
	})
}

// streamIDs returns the message ids on the stream, in stream order.
func (f *fixture) streamIDs(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	st, err := f.js.Stream(ctx, broker.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Header.Get(outbox.HeaderMsgID))
	}
	return ids
}

// TestFastLaneLeasesAtEnqueueAndKeepsKeyOrder: with the relay running, a
// message whose key has nothing in the table is written leased and
// published from memory at commit; a second message of the same key in
// the same transaction is written unleased and follows the first once it
// is gone (the relay's interval is an hour: only the fast lane and the
// wake-up after its record can publish).
func TestFastLaneLeasesAtEnqueueAndKeepsKeyOrder(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		f := newFixture(t, e, outbox.Config{Interval: time.Hour}, true)
		f.runRelay(t)
		for round := range 20 {
			var first, second, other outbox.Message
			err := f.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
				var err error
				if first, err = outbox.NewMessage("fabrika.test.ok", "a", map[string]int{"round": round, "n": 1}); err != nil {
					return err
				}
				if second, err = outbox.NewMessage("fabrika.test.ok", "a", map[string]int{"round": round, "n": 2}); err != nil {
					return err
				}
				if other, err = outbox.NewMessage("fabrika.test.ok", "b", map[string]int{"round": round}); err != nil {
					return err
				}
				for _, m := range []outbox.Message{first, second, other} {
					if err := f.out.Enqueue(ctx, tx, m); err != nil {
						return err
					}
				}
				now := time.Now().UnixMicro()
				if l := lease(t, ctx, tx, first.ID); l <= now {
					t.Errorf("round %d: the first message of its key is not leased (until %d, now %d)", round, l, now)
				}
				if l := lease(t, ctx, tx, second.ID); l != 0 {
					t.Errorf("round %d: the second message of a key is leased: it could overtake the first", round)
				}
				if l := lease(t, ctx, tx, other.ID); l <= now {
					t.Errorf("round %d: the first message of another key is not leased", round)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			f.waitEmpty(t, 5*time.Second)
			ids := f.streamIDs(t)
			pos := map[string]int{}
			for i, id := range ids {
				pos[id] = i
			}
			for _, m := range []outbox.Message{first, second, other} {
				if _, ok := pos[m.ID]; !ok {
					t.Fatalf("round %d: %s is not on the stream", round, m.ID)
				}
			}
			if pos[first.ID] > pos[second.ID] {
				t.Fatalf("round %d: key a's second message is on the stream before its first", round)
			}
		}
	})
}

// TestFastLaneHoldsAKeyBehindItsFailure: a message published from the fast
// lane that the broker refuses is recorded like any other (one attempt,
// backoff); a later message of its key is written unleased and waits, while
// other keys go on.
func TestFastLaneHoldsAKeyBehindItsFailure(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		f := newFixture(t, e, outbox.Config{Interval: 20 * time.Millisecond, BaseBackoff: time.Minute, MaxBackoff: time.Hour}, true)
		f.runRelay(t)
		bad := f.enqueue(t, [2]string{subjectRefused, "k"})[0]
		testenv.Eventually(t, 10*time.Second, func() error {
			if _, attempts, _, _ := f.row(t, bad); attempts != 1 {
				return fmt.Errorf("the refused message has %d attempts, want 1", attempts)
			}
			return nil
		})
		ids := f.enqueue(t, [2]string{"fabrika.test.ok", "k"}, [2]string{"fabrika.test.ok", "other"})
		testenv.Eventually(t, 5*time.Second, func() error {
			if _, _, _, ok := f.row(t, ids[1]); ok {
				return errors.New("the other key's message was not published")
			}
			return nil
		})
		f.waitSweeps(t, 3)
		if _, attempts, _, ok := f.row(t, ids[0]); !ok || attempts != 0 {
			t.Fatalf("the later message of the failing key: present=%v attempts=%d, want held back untouched", ok, attempts)
		}
		if l := lease(t, context.Background(), f.db, ids[0]); l != 0 {
			t.Fatalf("the later message of the failing key is leased until %d", l)
		}
		if got := f.streamIDs(t); len(got) != 1 || got[0] != ids[1] {
			t.Fatalf("stream holds %v, want only %s", got, ids[1])
		}
		if _, attempts, _, _ := f.row(t, bad); attempts != 1 {
			t.Fatalf("the refused message has %d attempts, want 1", attempts)
		}
	})
}

// TestFastLaneStaysShutWhileTheBrokerIsAway: while the broker connection is
// down, messages are written unleased and no attempt is spent; once it is
// back, a sweep publishes them.
func TestFastLaneStaysShutWhileTheBrokerIsAway(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		var up atomic.Bool
		f := newFixture(t, e, outbox.Config{Interval: 20 * time.Millisecond, Connected: up.Load}, true)
		f.runRelay(t)
		ids := f.enqueue(t, [2]string{"fabrika.test.ok", "k1"}, [2]string{"fabrika.test.ok", "k2"})
		f.waitSweeps(t, 3)
		for _, id := range ids {
			if _, attempts, _, ok := f.row(t, id); !ok || attempts != 0 {
				t.Fatalf("%s while the broker is away: present=%v attempts=%d, want waiting untouched", id, ok, attempts)
			}
			if l := lease(t, context.Background(), f.db, id); l != 0 {
				t.Fatalf("%s was written leased while the broker is away", id)
			}
		}
		up.Store(true)
		f.waitEmpty(t, 5*time.Second)
		if got := f.streamIDs(t); len(got) != 2 {
			t.Fatalf("stream holds %d messages, want 2", len(got))
		}
	})
}
