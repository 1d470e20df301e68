package outbox_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// After kill -9 of the whole process, the instance started again publishes
// the messages its dead predecessor had leased at once, not after the
// lease (here an hour); another instance's leases stay untouched.
func TestRestartedInstanceTakesOverItsLeases(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		cfg := outbox.Config{Instance: "shop-1", Lease: time.Hour}
		f := newFixture(t, e, cfg, true)
		ids := f.enqueue(t, [2]string{"fabrika.test.ok", "a"}, [2]string{"fabrika.test.ok", "b"}, [2]string{"fabrika.test.ok", "a"})
		// The first process of shop-1 claims them and dies: no record, no
		// release.
		crashed, err := outbox.New(f.db, f.js, cfg, testenv.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := crashed.Claim(ctx); err != nil || len(c.IDs()) != 3 {
			t.Fatalf("claim of the process that crashes: %v (%v)", c.IDs(), err)
		}
		// A message leased by another instance, shop-2, which is alive.
		other, err := outbox.New(f.db, f.js, outbox.Config{Instance: "shop-2", Lease: time.Hour}, testenv.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		theirs := f.enqueue(t, [2]string{"fabrika.test.ok", "c"})
		if c, err := other.Claim(ctx); err != nil || len(c.IDs()) != 1 {
			t.Fatalf("claim of shop-2: %v (%v)", c.IDs(), err)
		}
		// shop-1 starts again (f.out is a new process of the same instance).
		f.runRelay(t)
		testenv.Eventually(t, 10*time.Second, func() error {
			for _, id := range ids {
				if _, _, _, ok := f.row(t, id); ok {
					return fmt.Errorf("%s still waits for the dead process's lease", id)
				}
			}
			return nil
		})
		got := f.streamIDs(t)
		if len(got) != 3 || slices.Index(got, ids[0]) > slices.Index(got, ids[2]) {
			t.Fatalf("stream holds %v, want the three, key a's in order (%s, %s)", got, ids[0], ids[2])
		}
		if l := lease(t, ctx, f.db, theirs[0]); l == 0 {
			t.Fatal("the restarted instance released another instance's lease")
		}
	})
}
