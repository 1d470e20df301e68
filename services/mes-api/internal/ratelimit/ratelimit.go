// Package ratelimit is an in-memory token bucket per API key: a key of N
// requests per minute holds at most N tokens and gets N/60 back each second.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Decision is the outcome of one request, with what the RateLimit headers
// tell the client.
type Decision struct {
	Allowed    bool
	Limit      int           // tokens in a full bucket (requests per minute)
	Remaining  int           // whole tokens left after this request
	Reset      time.Duration // until the bucket is full again
	RetryAfter time.Duration // until the next request may pass (when refused)
}

type bucket struct {
	tokens float64
	limit  int
	at     time.Time
}

// Limiter holds the buckets. The zero value is not usable; call New.
type Limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	now     func() time.Time
}

// New returns a limiter; now may be nil for the wall clock.
func New(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{buckets: map[string]*bucket{}, now: now}
}

// Allow takes a token from key's bucket of perMinute tokens.
func (l *Limiter) Allow(key string, perMinute int) Decision {
	if perMinute < 1 {
		perMinute = 1
	}
	rate := float64(perMinute) / 60 // tokens per second
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok || b.limit != perMinute {
		b = &bucket{tokens: float64(perMinute), limit: perMinute, at: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.tokens = math.Min(float64(perMinute), b.tokens+el*rate)
	}
	b.at = now
	d := Decision{Limit: perMinute}
	if b.tokens >= 1 {
		b.tokens--
		d.Allowed = true
	} else {
		d.RetryAfter = seconds((1 - b.tokens) / rate)
	}
	d.Remaining = int(math.Floor(b.tokens))
	d.Reset = seconds((float64(perMinute) - b.tokens) / rate)
	return d
}

func seconds(s float64) time.Duration {
	return time.Duration(math.Ceil(s*1000)) * time.Millisecond
}

// Forget drops idle buckets full for longer than idle (a full bucket is the
// same as no bucket).
func (l *Limiter) Forget(idle time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.buckets {
		if now.Sub(b.at) > idle {
			delete(l.buckets, k)
		}
	}
}
