package staff

import (
	"sync"
	"time"
)

// limiter is a token bucket per key (an IP address or a login): burst
// attempts at once, then one every interval. It lives in memory: a gateway
// restart forgets it, which the lock-out kept in the database makes up for.
type limiter struct {
	mu       sync.Mutex
	burst    float64
	interval time.Duration
	buckets  map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

const maxBuckets = 100_000

func newLimiter(burst int, interval time.Duration) *limiter {
	return &limiter{burst: float64(burst), interval: interval, buckets: map[string]*bucket{}}
}

// allow takes a token for key; when none is left it returns how long until
// one is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.pruneLocked(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.refill(now, l.burst, l.interval)
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.interval))
	}
	b.tokens--
	return true, 0
}

func (b *bucket) refill(now time.Time, burst float64, interval time.Duration) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(burst, b.tokens+float64(d)/float64(interval))
		b.at = now
	}
}

// pruneLocked forgets full buckets (they behave like new ones); if that is
// not enough, it forgets all: an attacker filling the map with keys must not
// exhaust memory.
func (l *limiter) pruneLocked(now time.Time) {
	for k, b := range l.buckets {
		b.refill(now, l.burst, l.interval)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}

// prune is run from time to time.
func (l *limiter) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now)
}
