package outbox_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// skewedRelay is a second relay instance on the fixture's database whose
// host clock is off by skew.
func (f *fixture) skewedRelay(t *testing.T, skew time.Duration) *outbox.Outbox {
	t.Helper()
	o, err := outbox.New(f.db, f.js, outbox.Config{}, testenv.Logger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	o.SetClock(func() time.Time { return time.Now().Add(skew) })
	return o
}

// enqueueVia commits one message of key through o and returns its id.
func (f *fixture) enqueueVia(t *testing.T, o *outbox.Outbox, key string) string {
	t.Helper()
	m, err := outbox.NewMessage("fabrika.test.clock", key, map[string]string{"key": key})
	if err != nil {
		t.Fatal(err)
	}
	m.CreatedAt = time.Time{} // stamped by the relay instance that enqueues
	if err := f.db.InTx(context.Background(), func(ctx context.Context, tx *sqldb.Tx) error {
		return o.Enqueue(ctx, tx, m)
	}); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// The messages of one key go out in commit order even when the writers'
// clocks disagree: a writer an hour ahead must not put its message behind
// a later one of another writer.
func TestOrderPerKeyIgnoresWritersClocks(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		f := newFixture(t, e, outbox.Config{}, false)
		ahead := f.skewedRelay(t, time.Hour)
		want := []string{f.enqueueVia(t, ahead, "k"), f.enqueueVia(t, f.out, "k"), f.enqueueVia(t, ahead, "k")}
		c, err := f.out.Claim(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := c.IDs(); !slices.Equal(got, want) {
			t.Fatalf("claimed %v, want commit order %v", got, want)
		}
	})
}

// A lease is judged by the database's clock: a relay whose host clock is an
// hour behind still holds its batch against a relay with a true clock.
func TestLeaseJudgedByDatabaseTime(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		f := newFixture(t, e, outbox.Config{}, false)
		f.enqueue(t, [2]string{"fabrika.x", "a"}, [2]string{"fabrika.x", "b"})
		behind := f.skewedRelay(t, -time.Hour)
		c, err := behind.Claim(ctx)
		if err != nil || len(c.IDs()) != 2 {
			t.Fatalf("skewed relay claimed %v (%v), want both messages", c.IDs(), err)
		}
		other, err := f.out.Claim(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(other.IDs()) != 0 {
			t.Fatalf("a second relay claimed %v while the first one's lease runs", other.IDs())
		}
	})
}

// A relay records outcomes only of the rows it still holds: once its lease
// ran out and another relay took a message over, the first relay's late
// failure must not spend an attempt or clear the other's lease.
func TestRelayRecordsOnlyRowsItStillHolds(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		f := newFixture(t, e, outbox.Config{}, false)
		ids := f.enqueue(t, [2]string{"fabrika.x", "a"})
		first, err := outbox.New(f.db, nil, outbox.Config{}, testenv.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		late, err := first.Claim(ctx)
		if err != nil || len(late.IDs()) != 1 {
			t.Fatalf("first claim %v (%v)", late.IDs(), err)
		}
		// The lease runs out (the first relay stalled); the second takes over.
		if _, err := f.db.ExecContext(ctx, `UPDATE outbox SET lease_until = 1`); err != nil {
			t.Fatal(err)
		}
		if c, err := f.out.Claim(ctx); err != nil || len(c.IDs()) != 1 {
			t.Fatalf("takeover claim %v (%v)", c.IDs(), err)
		}
		if err := late.Record(ctx, errors.New("publish: late failure")); err != nil {
			t.Fatal(err)
		}
		status, attempts, _, ok := f.row(t, ids[0])
		var until int64
		if err := f.db.QueryRowContext(ctx, `SELECT lease_until FROM outbox WHERE id = $1`, ids[0]).Scan(&until); err != nil {
			t.Fatal(err)
		}
		if !ok || status != "pending" || attempts != 0 || until <= 1 {
			t.Fatalf("after the stale relay's record: present=%v status=%s attempts=%d lease_until=%d, want untouched and leased to the second relay", ok, status, attempts, until)
		}
		// Nor may its late acknowledgement delete the row the other relay holds.
		if err := late.Record(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, _, ok := f.row(t, ids[0]); !ok {
			t.Fatal("the stale relay deleted a row another relay holds")
		}
	})
}
