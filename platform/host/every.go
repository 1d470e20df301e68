package host

import (
	"context"
	"log/slog"
	"time"
)

// Every is a background task for Run: f at once and then every d until ctx
// ends. A failure is logged at WARN as "<what> failed" and waits for the
// next turn; housekeeping that fails now may succeed then.
func Every(d time.Duration, log *slog.Logger, what string, f func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			err := f(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				log.WarnContext(ctx, what+" failed", "error", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}
