package app

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// pageCache keeps list pages keyed by their canonical query, and the
// counters, in a bounded LRU (when full it forgets the least recently used
// page, never all of them). Every write to orders bumps the generation (after its commit),
// which drops every page and the counters: the list is cheap to rebuild, a
// stale one is wrong. The counters are kept even when pages are not
// (max < 0).
type pageCache struct {
	mu      sync.Mutex
	gen     uint64
	max     int
	ttl     time.Duration
	now     func() time.Time
	entries *simplelru.LRU[string, cachedPage] // nil when pages are not kept
	counts  cachedCounts
}

type cachedCounts struct {
	ok     bool
	gen    uint64
	at     time.Time
	counts map[string]int64
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
	c := &pageCache{max: max, ttl: ttl, now: now}
	if max > 0 {
		c.entries, _ = simplelru.NewLRU[string, cachedPage](max, nil) // fails only for max < 1
	}
	return c
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
	e, ok := c.entries.Get(key)
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
	c.entries.Add(key, cachedPage{gen: gen, at: c.now(), page: p})
}

// getCounts returns the counters when they were read in this generation
// and within the TTL. The map is shared: callers do not change it.
func (c *pageCache) getCounts() (map[string]int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.counts
	if !e.ok || e.gen != c.gen || c.now().Sub(e.at) > c.ttl {
		return nil, false
	}
	return e.counts, true
}

// putCounts keeps counters read when the generation was gen.
func (c *pageCache) putCounts(gen uint64, counts map[string]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	c.counts = cachedCounts{ok: true, gen: gen, at: c.now(), counts: counts}
}

func (c *pageCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if c.entries != nil {
		c.entries.Purge()
	}
	c.counts = cachedCounts{}
}

// etag is a strong validator of a page's encoded content.
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}
