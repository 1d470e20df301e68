package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/host"
)

// Running is a host that Run runs for a test.
type Running struct {
	h    *host.Host
	stop context.CancelFunc
	done chan struct{}
}

// Run runs h with its routes (app, nil for none) and background tasks
// until Stop or the end of the test, when it waits for h to stop (at most
// 20s). An error from h.Run fails the test, except the cancellation of a
// host still starting when it is stopped.
func Run(t testing.TB, h *host.Host, app http.Handler, background ...func(context.Context) error) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{h: h, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done) // closed, so that Stop and the cleanup both see it
		if err := h.Run(ctx, app, background...); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v", h.Name(), err)
		}
	}()
	t.Cleanup(func() {
		if err := r.wait(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// Stop stops the host and waits until it has (at most 20s).
func (r *Running) Stop(t testing.TB) {
	t.Helper()
	if err := r.wait(); err != nil {
		t.Fatal(err)
	}
}

func (r *Running) wait() error {
	r.stop()
	select {
	case <-r.done:
		return nil
	case <-time.After(20 * time.Second):
		return fmt.Errorf("%s did not stop in 20s", r.h.Name())
	}
}

// Ready waits until h's /readyz answers 200 (at most a minute: a loaded
// machine with PostgreSQL can take that long to migrate and connect).
func Ready(t testing.TB, h *host.Host) {
	t.Helper()
	url := "http://" + h.AdminAddr() + "/readyz"
	Eventually(t, time.Minute, func() error {
		res, err := http.Get(url)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, res.Status)
		}
		return nil
	})
}

// Host is the running host.
func (r *Running) Host() *host.Host { return r.h }
