package outbox_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/testenv"
)

// TestOutageGivesBackForgottenLeases: a message leased to the relay that
// nothing in the relay will publish or record any more (what a failed
// record, or a commit that answered with an error though it committed,
// leaves behind) goes out as soon as the database answers again after an
// outage, not when its lease runs out (here an hour; 30 s by default: in
// the fault suite's PostgreSQL rounds orders were priced up to 43 s after
// the database returned). The outage is a cut TCP proxy in front of the
// PostgreSQL server, between the relay and its database.
func TestOutageGivesBackForgottenLeases(t *testing.T) {
	direct, db, proxy := testenv.DBBehindProxy(t, nil)
	t.Parallel()
	ctx := context.Background()
	js, err := jetstream.New(testenv.NewBroker(t).Connect(t, "outbox-outage-test"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broker.EnsureStream(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	out, err := outbox.New(db, js, outbox.Config{Lease: time.Hour, Interval: 20 * time.Millisecond}, testenv.Logger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: direct, js: js, reg: prometheus.NewRegistry(), out: out}

	// The relay leases the message and forgets it.
	ids := f.enqueue(t, [2]string{"fabrika.test.ok", "a"})
	if c, err := out.Claim(ctx); err != nil || len(c.IDs()) != 1 {
		t.Fatalf("claim: %v (%v)", c.IDs(), err)
	}
	f.runRelay(t)
	if lease(t, ctx, direct, ids[0]) == 0 {
		t.Fatal("the forgotten message is not leased")
	}

	proxy.Cut()
	f.waitSweeps(t, 2) // sweeps that met the outage
	proxy.Restore(t)

	f.waitEmpty(t, 15*time.Second)
	if got := f.streamIDs(t); !slices.Equal(got, ids) {
		t.Fatalf("stream holds %v, want %v", got, ids)
	}
}
