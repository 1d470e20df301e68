package app

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// sessionCache keeps recently seen sessions in memory for a few seconds so
// that every API call does not cost a database round trip. A sign-out on
// this instance evicts at once; on another instance it takes effect within
// the TTL. Expiry is still checked on every hit. When full it forgets the
// least recently used session (a bounded LRU), never all of them.
type sessionCache struct {
	ttl time.Duration

	mu      sync.Mutex
	entries *simplelru.LRU[string, sessionEntry] // nil when off
}

type sessionEntry struct {
	customer Customer
	expires  time.Time // the session's own expiry
	until    time.Time // when this cache entry must be re-read
}

func newSessionCache(ttl time.Duration, max int) *sessionCache {
	c := &sessionCache{ttl: ttl}
	if ttl > 0 {
		c.entries, _ = simplelru.NewLRU[string, sessionEntry](max, nil) // max >= 1: Config.validate
	}
	return c
}

func (c *sessionCache) get(hash string, now time.Time) (Customer, bool) {
	if c.entries == nil {
		return Customer{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries.Get(hash)
	if !ok || now.After(e.until) || !now.Before(e.expires) {
		return Customer{}, false
	}
	return e.customer, true
}

func (c *sessionCache) put(hash string, cu Customer, expires, now time.Time) {
	if c.entries == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries.Add(hash, sessionEntry{customer: cu, expires: expires, until: now.Add(c.ttl)})
}

func (c *sessionCache) evict(hash string) {
	if c.entries == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries.Remove(hash)
}

// purge forgets every session (after a password change: the account's
// other sessions end at once on this instance).
func (c *sessionCache) purge() {
	if c.entries == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries.Purge()
}
