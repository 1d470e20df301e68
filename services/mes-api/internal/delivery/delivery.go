// Package delivery is the worker that posts webhook deliveries from
// mes-api's own delivery table: signed per Standard Webhooks, retried with
// exponential backoff until the delivery's give-up time, each attempt logged.
package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/fabrika/fabrika/platform/netguard"
	"github.com/fabrika/fabrika/platform/secretbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
	"github.com/fabrika/fabrika/services/mes-api/internal/webhook"
)

// Config tunes the worker. The zero value of a field takes its default.
type Config struct {
	// Guard decides which addresses a delivery may connect to, at every
	// dial after DNS resolution; its zero value allows only public ones.
	Guard netguard.Guard
	// Timeout of one POST (default 10s).
	Timeout time.Duration
	// BaseBackoff and MaxBackoff bound the wait between attempts (default
	// 5s and 1h): 5s, 10s, 20s, ... 1h, 1h ... until the give-up time.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// Interval between sweeps for due deliveries (default 1s); a commit
	// that enqueues wakes the worker at once.
	Interval time.Duration
	// Concurrency is how many deliveries are posted at once (default 8).
	Concurrency int
	// Secrets opens the endpoints' sealed signing secrets.
	Secrets *secretbox.Box
	// Client posts the deliveries (default: one built from the above).
	Client *http.Client
}

// Worker posts due deliveries.
type Worker struct {
	db    *sqldb.DB
	store *store.Store
	cfg   Config
	log   *slog.Logger
	wake  chan struct{}
	now   func() time.Time
}

// New builds a worker.
func New(db *sqldb.DB, cfg Config, log *slog.Logger) *Worker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = 5 * time.Second
	}
	if cfg.MaxBackoff < cfg.BaseBackoff {
		cfg.MaxBackoff = max(time.Hour, cfg.BaseBackoff)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(cfg.Guard, cfg.Timeout)
	}
	return &Worker{db: db, store: store.New(db), cfg: cfg, log: log, wake: make(chan struct{}, 1), now: time.Now}
}

// NewClient returns the HTTP client of deliveries: no proxy from the
// environment, no redirects followed (a 3xx is a failed attempt), and a
// dialer that refuses what the guard does not allow, after resolution.
func NewClient(g netguard.Guard, timeout time.Duration) *http.Client {
	return &http.Client{Transport: g.Transport(timeout), Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// clientError is what the delivery log shows the client of a failed
// attempt: "refused" or "failed", never the network detail (connection
// refused, no route, timeout...), which would make the log a port scanner.
func clientError(err error, code int) string {
	switch {
	case errors.Is(err, netguard.ErrRefused):
		return "refused: the endpoint's address is not public"
	case code != 0:
		return fmt.Sprintf("failed: the endpoint answered %d", code)
	default:
		return "failed: no answer from the endpoint"
	}
}

// Wake asks for a sweep now.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run sweeps until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		for {
			n, err := w.Sweep(ctx)
			if err != nil && ctx.Err() == nil {
				w.log.WarnContext(ctx, "webhook sweep failed", "error", err)
			}
			if n < w.cfg.Concurrency*4 || err != nil {
				break // a full batch means more may be due
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w.wake:
		}
	}
}

// Sweep posts the deliveries due now and returns how many it tried.
func (w *Worker) Sweep(ctx context.Context) (int, error) {
	now := w.now()
	due, err := w.store.ClaimDue(ctx, w.db, now, now.Add(2*w.cfg.Timeout+5*time.Second), w.cfg.Concurrency*4)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	sem := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, d := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := w.deliver(context.WithoutCancel(ctx), d); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return len(due), errors.Join(errs...)
}

func (w *Worker) deliver(ctx context.Context, d store.DueDelivery) error {
	start := w.now()
	code, sendErr := w.post(ctx, d, start)
	a := store.Attempt{N: d.Attempts + 1, At: start.UTC(), StatusCode: code, DurationMS: float64(time.Since(start).Microseconds()) / 1000}
	status, next := store.DeliveryDelivered, time.Time{}
	if sendErr != nil {
		a.Error = clientError(sendErr, code)
		next = w.now().Add(webhook.Backoff(a.N, w.cfg.BaseBackoff, w.cfg.MaxBackoff, rand.Float64()))
		status = store.DeliveryPending
		if next.After(d.GiveUpAt) {
			status, next = store.DeliveryFailed, time.Time{}
		}
	}
	err := w.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		return w.store.RecordAttempt(ctx, tx, d.ID, a, status, next)
	})
	if err != nil {
		return fmt.Errorf("record webhook attempt: %w", err)
	}
	lvl := slog.LevelDebug
	if status == store.DeliveryFailed {
		lvl = slog.LevelWarn
	}
	var detail string
	if sendErr != nil {
		detail = sendErr.Error() // for operators only, never in the client's delivery log
	}
	w.log.Log(ctx, lvl, "webhook attempt", "delivery", d.ID, "endpoint", d.EndpointID, "attempt", a.N, "status_code", code,
		"error", a.Error, "detail", detail, "outcome", status)
	return nil
}

func (w *Worker) post(ctx context.Context, d store.DueDelivery, now time.Time) (int, error) {
	body := []byte(d.Payload)
	secret := d.Secret
	if secretbox.IsSealed(secret) {
		if w.cfg.Secrets == nil {
			return 0, errors.New("no key to open the endpoint's secret")
		}
		plain, err := w.cfg.Secrets.Open(secret, []byte(d.EndpointID))
		if err != nil {
			return 0, fmt.Errorf("open the endpoint's secret: %w", err)
		}
		secret = string(plain)
	}
	sig, err := webhook.Sign(secret, d.MsgID, now, body)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Fabrika-Webhooks/1")
	req.Header.Set(webhook.HeaderID, d.MsgID)
	req.Header.Set(webhook.HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(webhook.HeaderSignature, sig)
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("endpoint answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
