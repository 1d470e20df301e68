package httpx_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/httpx"
)

func TestLimitAdmitsAtMostN(t *testing.T) {
	t.Parallel()
	const n = 3
	var inside, most atomic.Int32
	full := make(chan struct{}) // closed when n were inside at once
	var fullOnce sync.Once
	h := httpx.Limit(n, time.Minute, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := inside.Add(1)
		for {
			m := most.Load()
			if now <= m || most.CompareAndSwap(m, now) {
				break
			}
		}
		if now >= n {
			fullOnce.Do(func() { close(full) })
		}
		// Stay until n were inside at once (or give up after 2 s), so that
		// reaching n does not depend on how the goroutines are scheduled,
		// then a little longer: the window in which one too many would get in.
		select {
		case <-full:
		case <-time.After(2 * time.Second):
		}
		time.Sleep(5 * time.Millisecond)
		inside.Add(-1)
	}))
	var wg sync.WaitGroup
	codes := make([]int, 30)
	for i := range codes {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			codes[i] = rec.Code
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: %d, want 200 (they all fit in the wait)", i, c)
		}
	}
	if m := most.Load(); m != n {
		t.Errorf("at most %d requests were inside at once, want %d", m, n)
	}
}

func TestLimitAnswersBusyWith503(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{})
	h := httpx.Limit(1, 30*time.Millisecond, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/held", nil))
	<-entered
	defer close(release)

	tests := []struct {
		name string
		ctx  func() context.Context
	}{
		{"waited too long", context.Background},
		{"client went away", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/orders", nil).WithContext(tc.ctx()))
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/orders", nil))
	if ra := rec.Header().Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
}
