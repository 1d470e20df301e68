package app

import (
	"sync"
	"time"
)

// sessionCache keeps recently seen sessions in memory for a few seconds so
// that every API call does not cost a database round trip. A sign-out on
// this instance evicts at once; on another instance it takes effect within
// the TTL. Expiry is still checked on every hit.
type sessionCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]sessionEntry
}

type sessionEntry struct {
	customer Customer
	expires  time.Time // the session's own expiry
	until    time.Time // when this cache entry must be re-read
}

func newSessionCache(ttl time.Duration, max int) *sessionCache {
	return &sessionCache{ttl: ttl, max: max, entries: map[string]sessionEntry{}}
}

func (c *sessionCache) get(hash string, now time.Time) (Customer, bool) {
	if c.ttl <= 0 {
		return Customer{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || now.After(e.until) || !now.Before(e.expires) {
		return Customer{}, false
	}
	return e.customer, true
}

func (c *sessionCache) put(hash string, cu Customer, expires, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if now.After(e.until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[hash] = sessionEntry{customer: cu, expires: expires, until: now.Add(c.ttl)}
}

func (c *sessionCache) evict(hash string) {
	c.mu.Lock()
	delete(c.entries, hash)
	c.mu.Unlock()
}
