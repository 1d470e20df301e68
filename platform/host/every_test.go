package host

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Every runs its task at once and again on each turn, logs a failure and
// goes on, and ends when its context does.
func TestEvery(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ctx, cancel := context.WithCancel(context.Background())
	var runs atomic.Int64
	task := Every(time.Millisecond, log, "sweep", func(context.Context) error {
		if runs.Add(1) == 3 {
			cancel()
		}
		return errors.New("database away")
	})
	done := make(chan error, 1)
	go func() { done <- task(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("task ended with %v, want nil at the end of its context", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("task did not end with its context")
	}
	if n := runs.Load(); n != 3 {
		t.Errorf("ran %d times, want 3 (it goes on after a failure, stops when the context ends)", n)
	}
	if got := strings.Count(buf.String(), `msg="sweep failed" error="database away"`); got != 2 {
		t.Errorf("%d failures logged, want 2 (not the one of the run its context ended in):\n%s", got, buf.String())
	}
}
