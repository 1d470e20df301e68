package app

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"
)

// pageCache keeps list pages keyed by their canonical query. Every write to
// orders bumps the generation (after its commit), which drops every page:
// the list is cheap to rebuild, a stale one is wrong.
type pageCache struct {
	mu      sync.Mutex
	gen     uint64
	max     int
	ttl     time.Duration
	now     func() time.Time
	entries map[string]cachedPage
}

type cachedPage struct {
	gen  uint64
	at   time.Time
	page Page
}

func newPageCache(max int, ttl time.Duration, now func() time.Time) *pageCache {
	if max == 0 {
		max = 2000
	}
	if ttl == 0 {
		ttl = 5 * time.Second
	}
	return &pageCache{max: max, ttl: ttl, now: now, entries: map[string]cachedPage{}}
}

func (c *pageCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *pageCache) get(key string) (Page, bool) {
	if c.max < 0 {
		return Page{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || e.gen != c.gen || c.now().Sub(e.at) > c.ttl {
		return Page{}, false
	}
	return e.page, true
}

// put stores a page computed when the generation was gen; a page computed
// before a write that committed meanwhile is not kept.
func (c *pageCache) put(key string, gen uint64, p Page) {
	if c.max < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= c.max {
		clear(c.entries)
	}
	c.entries[key] = cachedPage{gen: gen, at: c.now(), page: p}
}

func (c *pageCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// etag is a strong validator of a page's content.
func etag(p Page) string {
	b, _ := json.Marshal(struct {
		Rows   any
		Next   string
		Counts any
	}{p.Rows, p.Next, p.Counts})
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}
