// Package orderpage keeps rendered pages of a customer's "my orders" in
// memory, so that a customer (or an app polling for news) reading the same
// page again costs no database query and no encoding. The pages of a
// customer are dropped as soon as one of that customer's orders changes
// (Invalidate, called after the commit, on every replica through the cache
// bus); a change whose invalidation cannot reach this instance (broker
// away) is seen when the entry's lifetime ends.
//
// A reader that misses takes a Ticket before it queries and stores its page
// with it: if the customer's pages were invalidated in between (an order
// committed while the page was being read), the page is not stored, so a
// page older than the last invalidation is never served.
package orderpage

import (
	"sync"
	"time"
)

// Entry is a rendered page and its entity tag.
type Entry struct {
	Body []byte
	ETag string
}

// Cache holds the rendered pages of recently active customers, within a
// budget of bytes.
type Cache struct {
	ttl       time.Duration
	maxBytes  int // bodies kept, all customers together
	maxOwners int // customers tracked, with or without pages
	perOwner  int // pages kept per customer
	now       func() time.Time

	mu     sync.Mutex
	owners map[string]*owner
	bytes  int
}

type owner struct {
	gen   uint64 // bumped by every invalidation
	pages map[string]page
}

type page struct {
	Entry
	until time.Time
}

// Ticket is a reader's view of a customer's pages before it queried.
type Ticket struct {
	customer string
	o        *owner
	gen      uint64
}

// New returns a cache whose entries live ttl, holding at most maxBytes of
// page bodies and perCustomer pages a customer. A ttl <= 0 returns nil: a
// nil *Cache is valid and caches nothing.
func New(ttl time.Duration, maxBytes, perCustomer int, now func() time.Time) *Cache {
	if ttl <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	maxBytes = max(maxBytes, 1)
	return &Cache{ttl: ttl, maxBytes: maxBytes, maxOwners: max(maxBytes/256, 16), perOwner: max(perCustomer, 1), now: now,
		owners: map[string]*owner{}}
}

// Get returns the live page of a customer under key.
func (c *Cache) Get(customer, key string) (Entry, bool) {
	if c == nil {
		return Entry{}, false
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.owners[customer]
	if o == nil {
		return Entry{}, false
	}
	p, ok := o.pages[key]
	if !ok || !now.Before(p.until) {
		return Entry{}, false
	}
	return p.Entry, true
}

// Begin is called before a page is read from the database; the page is then
// stored with Put and that ticket.
func (c *Cache) Begin(customer string) Ticket {
	if c == nil {
		return Ticket{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.owners[customer]
	if o == nil {
		if len(c.owners) >= c.maxOwners {
			c.prune(c.now())
		}
		o = &owner{pages: map[string]page{}}
		c.owners[customer] = o
	}
	return Ticket{customer: customer, o: o, gen: o.gen}
}

// Put stores a page read under t, unless the customer's pages were
// invalidated (or forgotten) since t was taken.
func (c *Cache) Put(t Ticket, key string, e Entry) {
	if c == nil || t.o == nil {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owners[t.customer] != t.o || t.o.gen != t.gen || len(e.Body) > c.maxBytes {
		return
	}
	if old, ok := t.o.pages[key]; ok {
		c.bytes -= len(old.Body)
		delete(t.o.pages, key)
	}
	if len(t.o.pages) >= c.perOwner {
		c.drop(t.o)
	}
	if c.bytes+len(e.Body) > c.maxBytes {
		c.prune(now)
		if c.owners[t.customer] != t.o { // forgotten by the prune
			c.owners[t.customer] = t.o
		}
	}
	t.o.pages[key] = page{Entry: e, until: now.Add(c.ttl)}
	c.bytes += len(e.Body)
}

// drop forgets the pages of o. Called with mu held.
func (c *Cache) drop(o *owner) {
	for _, p := range o.pages {
		c.bytes -= len(p.Body)
	}
	clear(o.pages)
}

// Invalidate drops the pages of a customer; call it once a change of one of
// the customer's orders is committed.
func (c *Cache) Invalidate(customer string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o := c.owners[customer]; o != nil {
		o.gen++
		c.drop(o)
	}
}

// Purge drops every customer's pages (invalidations may have been missed).
func (c *Cache) Purge() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.owners {
		o.gen++
		c.drop(o)
	}
}

// prune drops expired pages and forgets customers left without pages; when
// that is not enough (too many customers, or bytes over the budget) it
// forgets every customer (their readers' Puts are then ignored). Called
// with mu held.
func (c *Cache) prune(now time.Time) {
	for k, o := range c.owners {
		for key, p := range o.pages {
			if !now.Before(p.until) {
				c.bytes -= len(p.Body)
				delete(o.pages, key)
			}
		}
		if len(o.pages) == 0 {
			delete(c.owners, k)
		}
	}
	if len(c.owners) >= c.maxOwners || c.bytes > c.maxBytes/2 {
		for _, o := range c.owners {
			clear(o.pages)
		}
		clear(c.owners)
		c.bytes = 0
	}
}
