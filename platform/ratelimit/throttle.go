package ratelimit

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/fabrika/fabrika/platform/backoff"
)

// Backoff is a policy of growing delays after failures: the first Free
// failures cost nothing, each one after that doubles the wait before the
// next attempt, from Base up to Max. Failures are forgotten Forget after the
// last one. A delay is never a lock-out: once it has passed, the next
// attempt is judged on its merits.
type Backoff struct {
	Free   int
	Base   time.Duration
	Max    time.Duration
	Forget time.Duration // default 1 hour, at least Max
}

func (b *Backoff) defaults() {
	if b.Base <= 0 {
		b.Base = time.Second
	}
	if b.Max < b.Base {
		b.Max = b.Base
	}
	if b.Forget <= 0 {
		b.Forget = time.Hour
	}
	b.Forget = max(b.Forget, b.Max)
}

// Delay is the wait imposed after n failures.
func (b Backoff) Delay(n int) time.Duration {
	if n <= b.Free {
		return 0
	}
	return backoff.Exponential(n-b.Free, b.Base, b.Max)
}

// Throttle counts failures per key and tells how long a key must wait
// before its next attempt. Make it with NewThrottle.
type Throttle struct {
	policy Backoff
	now    func() time.Time

	mu   sync.Mutex
	keys *simplelru.LRU[string, failures]
}

type failures struct {
	n    int
	last time.Time
}

// NewThrottle returns a throttle tracking at most maxKeys keys (0:
// DefaultMaxKeys); now may be nil for the wall clock.
func NewThrottle(policy Backoff, maxKeys int, now func() time.Time) *Throttle {
	policy.defaults()
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	lru, err := simplelru.NewLRU[string, failures](maxKeys, nil)
	if err != nil {
		panic(err)
	}
	return &Throttle{policy: policy, now: now, keys: lru}
}

// Wait is how long key must wait before its next attempt (0: go ahead).
func (t *Throttle) Wait(key string) time.Duration {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.current(key, now)
	if !ok {
		return 0
	}
	return max(0, f.last.Add(t.policy.Delay(f.n)).Sub(now))
}

// Fail records a failure of key; it returns the failures counted and the
// wait it now imposes.
func (t *Throttle) Fail(key string) (int, time.Duration) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	f, _ := t.current(key, now)
	f.n++
	f.last = now
	t.keys.Add(key, f)
	return f.n, t.policy.Delay(f.n)
}

// Reset forgets key's failures (after a success).
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.keys.Remove(key)
}

// current returns key's failures that are not forgotten yet; the lookup
// makes key the most recently used.
func (t *Throttle) current(key string, now time.Time) (failures, bool) {
	f, ok := t.keys.Get(key)
	if !ok {
		return failures{}, false
	}
	if now.Sub(f.last) > t.policy.Forget {
		t.keys.Remove(key)
		return failures{}, false
	}
	return f, true
}

// Len is how many keys are tracked.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.keys.Len()
}
