package inbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// The consumer's lag is on /metrics: messages its handler has not finished
// are counted as pending or ack-pending, and both return to zero once they
// are processed.
func TestConsumerLagMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := testenv.NewBroker(t)
	h, err := host.Open(ctx, testenv.HostConfig(t, "lagging", nil), b.Deps(t, "lagging"))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	h.Inbox.Subscribe("things", map[string]inbox.Handler{
		"fabrika.test.thing": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(runCtx, nil) }()
	defer func() { free(); stop(); <-done }()

	lag := func() (pending, ackPending float64, err error) {
		mfs, err := h.Registry().Gather()
		if err != nil {
			return 0, 0, err
		}
		seen := 0
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				ours := false
				for _, l := range m.GetLabel() {
					ours = ours || (l.GetName() == "consumer" && l.GetValue() == "lagging-things")
				}
				if !ours {
					continue
				}
				switch mf.GetName() {
				case "fabrika_inbox_consumer_pending":
					pending, seen = m.GetGauge().GetValue(), seen+1
				case "fabrika_inbox_consumer_ack_pending":
					ackPending, seen = m.GetGauge().GetValue(), seen+1
				}
			}
		}
		if seen != 2 {
			return 0, 0, fmt.Errorf("consumer lag series: %d of 2", seen)
		}
		return pending, ackPending, nil
	}
	for i := range 5 {
		testenv.Publish(ctx, t, h, "fabrika.test.thing", fmt.Sprintf("k%d", i), map[string]int{"i": i})
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		p, a, err := lag()
		if err != nil {
			return err
		}
		if p+a != 5 || a == 0 {
			return fmt.Errorf("pending %g, ack pending %g; want 5 waiting, some delivered", p, a)
		}
		return nil
	})
	free()
	testenv.Eventually(t, 20*time.Second, func() error {
		p, a, err := lag()
		if err != nil {
			return err
		}
		if p != 0 || a != 0 {
			return fmt.Errorf("pending %g, ack pending %g after processing; want 0, 0", p, a)
		}
		return nil
	})
}
