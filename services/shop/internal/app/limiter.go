package app

import (
	"sync"
	"time"
)

// limiter counts events per key in fixed windows: at most max per window.
// It forgets keys whose window ended; it holds at most maxKeys keys, so a
// flood of distinct keys cannot grow memory without bound.
type limiter struct {
	max     int
	window  time.Duration
	maxKeys int

	mu   sync.Mutex
	hits map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newLimiter(max int, per time.Duration, maxKeys int) *limiter {
	return &limiter{max: max, window: per, maxKeys: maxKeys, hits: map[string]*window{}}
}

// blocked tells whether key used its allowance, and when it may try again.
func (l *limiter) blocked(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.hits[key]
	if !ok || now.Sub(w.start) >= l.window {
		return false, 0
	}
	if w.n >= l.max {
		return true, w.start.Add(l.window).Sub(now)
	}
	return false, 0
}

// add counts one event of key.
func (l *limiter) add(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.hits[key]
	if !ok || now.Sub(w.start) >= l.window {
		if len(l.hits) >= l.maxKeys {
			l.prune(now)
		}
		l.hits[key] = &window{start: now, n: 1}
		return
	}
	w.n++
}

// reset forgets key (a successful sign-in clears the account's failures).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	delete(l.hits, key)
	l.mu.Unlock()
}

func (l *limiter) prune(now time.Time) {
	for k, w := range l.hits {
		if now.Sub(w.start) >= l.window {
			delete(l.hits, k)
		}
	}
	if len(l.hits) >= l.maxKeys { // all live: drop the lot rather than grow
		clear(l.hits)
	}
}
