// Package ratelimit is the one place where Fabrika's services limit and
// throttle clients: keyed token buckets (golang.org/x/time/rate) for request
// and attempt rates, and growing delays after failed sign-ins (Throttle,
// SignIn). Every key lives in a bounded LRU (hashicorp/golang-lru/v2) that
// evicts the least recently used key when full: a client with many addresses
// can push out idle keys, never the counters of a key still in use, and
// memory stays bounded.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// DefaultMaxKeys is how many keys a limiter or throttle tracks when its
// configuration says 0.
const DefaultMaxKeys = 100_000

// Rate is Events per Per, with a burst of Events: a key that was idle may
// spend them all at once, then gets Events/Per back over time.
type Rate struct {
	Events int
	Per    time.Duration
}

// PerMinute is n events a minute.
func PerMinute(n int) Rate { return Rate{Events: n, Per: time.Minute} }

func (r Rate) limit() rate.Limit { return rate.Limit(float64(r.Events) / r.Per.Seconds()) }

func (r Rate) valid() bool { return r.Events >= 1 && r.Per > 0 }

// Decision is the outcome of one request, with what RateLimit headers tell
// the client.
type Decision struct {
	Allowed    bool
	Limit      int           // events in a full bucket
	Remaining  int           // whole events left after this one
	Reset      time.Duration // until the bucket is full again
	RetryAfter time.Duration // until the next event may pass (when refused)
}

// Limiter holds a token bucket per key. Make it with New.
type Limiter struct {
	rate Rate
	now  func() time.Time

	mu      sync.Mutex
	buckets *simplelru.LRU[string, *bucket]
}

type bucket struct {
	rate Rate
	lim  *rate.Limiter
}

// New returns a limiter of r per key (the default for Allow), tracking at
// most maxKeys keys (0: DefaultMaxKeys); now may be nil for the wall clock.
func New(r Rate, maxKeys int, now func() time.Time) *Limiter {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	lru, err := simplelru.NewLRU[string, *bucket](maxKeys, nil)
	if err != nil { // only for a size < 1, excluded above
		panic(err)
	}
	return &Limiter{rate: r, now: now, buckets: lru}
}

// Allow takes one event from key's bucket at the limiter's rate.
func (l *Limiter) Allow(key string) Decision { return l.AllowRate(key, l.rate) }

// AllowRate takes one event from key's bucket of rate r (keys with their
// own rate, such as API keys); a changed rate starts a full bucket.
func (l *Limiter) AllowRate(key string, r Rate) Decision {
	if !r.valid() {
		r = Rate{Events: 1, Per: time.Minute}
	}
	now := l.now()
	b := l.bucket(key, r)
	d := Decision{Limit: r.Events}
	d.Allowed = b.lim.AllowN(now, 1)
	tokens := b.lim.TokensAt(now)
	perSec := float64(r.limit())
	if !d.Allowed {
		d.RetryAfter = seconds((1 - tokens) / perSec)
	}
	d.Remaining = max(0, int(math.Floor(tokens)))
	d.Reset = seconds((float64(r.Events) - tokens) / perSec)
	return d
}

func (l *Limiter) bucket(key string, r Rate) *bucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets.Get(key); ok && b.rate == r {
		return b
	}
	b := &bucket{rate: r, lim: rate.NewLimiter(r.limit(), r.Events)}
	l.buckets.Add(key, b)
	return b
}

// Len is how many keys are tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buckets.Len()
}

func seconds(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(s*1000)) * time.Millisecond
}
