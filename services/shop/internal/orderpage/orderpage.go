// Package orderpage keeps rendered pages of a customer's "my orders" in
// memory, so that a customer (or an app polling for news) reading the same
// page again costs no database query and no encoding. The pages of a
// customer are dropped as soon as one of that customer's orders changes on
// this instance (Invalidate, called after the commit); a change made by
// another instance is seen when the entry's lifetime ends.
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

// Cache holds the rendered pages of recently active customers.
type Cache struct {
	ttl      time.Duration
	max      int // customers tracked
	perOwner int // pages kept per customer
	now      func() time.Time

	mu     sync.Mutex
	owners map[string]*owner
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

// New returns a cache whose entries live ttl, for at most maxCustomers
// customers and perCustomer pages each. A ttl <= 0 returns nil: a nil
// *Cache is valid and caches nothing.
func New(ttl time.Duration, maxCustomers, perCustomer int, now func() time.Time) *Cache {
	if ttl <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{ttl: ttl, max: max(maxCustomers, 1), perOwner: max(perCustomer, 1), now: now, owners: map[string]*owner{}}
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
		if len(c.owners) >= c.max {
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
	if c.owners[t.customer] != t.o || t.o.gen != t.gen {
		return
	}
	if len(t.o.pages) >= c.perOwner {
		clear(t.o.pages)
	}
	t.o.pages[key] = page{Entry: e, until: now.Add(c.ttl)}
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
		clear(o.pages)
	}
}

// prune forgets customers without a live page; when all are live it forgets
// them all (their readers' Puts are then ignored). Called with mu held.
func (c *Cache) prune(now time.Time) {
	for k, o := range c.owners {
		live := false
		for _, p := range o.pages {
			if now.Before(p.until) {
				live = true
				break
			}
		}
		if !live {
			delete(c.owners, k)
		}
	}
	if len(c.owners) >= c.max {
		clear(c.owners)
	}
}
