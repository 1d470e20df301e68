package app

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// sessionCache keeps recently seen sessions in memory for a few seconds so
// that every API call does not cost a database round trip. A sign-out or a
// password change evicts at once on every replica (through the cache bus);
// while the broker is away another replica's takes effect here within the
// TTL. Expiry is still checked on every hit. When full it forgets the least
// recently used session (a bounded LRU), never all of them.
type sessionCache struct {
	ttl time.Duration

	mu      sync.Mutex
	gen     uint64                               // bumped by every eviction
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

// get returns the cached customer of a session, or, on a miss, the
// generation to put what the database says with.
func (c *sessionCache) get(hash string, now time.Time) (Customer, uint64, bool) {
	if c.entries == nil {
		return Customer{}, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries.Get(hash)
	if !ok || now.After(e.until) || !now.Before(e.expires) {
		return Customer{}, c.gen, false
	}
	return e.customer, c.gen, true
}

// put keeps a session read in generation gen; when an eviction came in
// meanwhile, what was read may be what it ended, and it is not kept.
func (c *sessionCache) put(gen uint64, hash string, cu Customer, expires, now time.Time) {
	if c.entries == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	c.entries.Add(hash, sessionEntry{customer: cu, expires: expires, until: now.Add(c.ttl)})
}

func (c *sessionCache) evict(hash string) {
	if c.entries == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries.Remove(hash)
}

// evictCustomer forgets every session of a customer (after a password
// change: the account's other sessions end).
func (c *sessionCache) evictCustomer(id string) {
	if c.entries == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, hash := range c.entries.Keys() {
		if e, ok := c.entries.Peek(hash); ok && e.customer.ID == id {
			c.entries.Remove(hash)
		}
	}
}

// purge forgets every session.
func (c *sessionCache) purge() {
	if c.entries == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries.Purge()
}
