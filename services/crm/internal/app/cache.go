package app

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/store"
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// pageCache keeps list pages keyed by their canonical query, and the
// counters, in a bounded LRU (when full it forgets the least recently used
// page, never all of them). A committed change of one order drops only the
// pages it can change (pageChange.affects); any other write to orders drops
// every page. Every change drops the counters, which every page shows: a
// kept page is joined to them when it is served. The counters are kept
// even when pages are not (max < 0).
type pageCache struct {
	mu      sync.Mutex
	gen     uint64 // one more at each change
	max     int
	ttl     time.Duration
	now     func() time.Time
	entries *simplelru.LRU[string, cachedPage] // nil when pages are not kept
	counts  cachedCounts
	// recent are the latest changes in generation order: a page read while
	// one of them committed is kept only if none of them affects it.
	recent []genChange
}

// recentChanges is how many changes put looks back over; a page whose read
// began before them is not kept.
const recentChanges = 256

type genChange struct {
	gen uint64
	ch  *pageChange // nil: every page may have changed
}

type cachedCounts struct {
	ok     bool
	gen    uint64
	at     time.Time
	counts map[string]int64
	json   []byte
}

// cachedPage is a page without its counters: its query, its rows and the
// start of its JSON (`{"orders":[...],"next_cursor":"..."`).
type cachedPage struct {
	at   time.Time
	q    listquery.Query
	rows []store.ListRow
	next string
	head []byte
}

// pageChange is a committed change of one order's list row: its facts
// before (nil: the row is new) and after, and its search tokens (which a
// change of status, total or manager leaves as they were). It travels to
// the other replicas as JSON.
type pageChange struct {
	OrderID string           `json:"order_id"`
	Before  *store.ListFacts `json:"before,omitempty"`
	After   store.ListFacts  `json:"after"`
	// Tokens are the order's search tokens; nil when not known: a search
	// page is then dropped unless the order stays where it was.
	Tokens []string `json:"tokens,omitempty"`
}

// affects tells whether a page of q showing rows may differ after the
// change: it shows the order, or the order matches q before or after the
// change and does not keep its place (it enters, leaves or moves).
func (ch *pageChange) affects(q listquery.Query, rows []store.ListRow) bool {
	if slices.ContainsFunc(rows, func(r store.ListRow) bool { return r.OrderID == ch.OrderID }) {
		return true
	}
	before := ch.Before != nil && ch.Before.Matches(q)
	after := ch.After.Matches(q)
	if !before && !after {
		return false
	}
	if before && after && ch.Before.SortValue(q) == ch.After.SortValue(q) {
		// In the results before and after, at the same place (its words
		// did not change) and not on this page: the page is the same.
		return false
	}
	return ch.Tokens == nil || listquery.MatchesAll(q.Words, ch.Tokens)
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

func (c *pageCache) get(key string) (cachedPage, bool) {
	if c.max < 0 {
		return cachedPage{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries.Get(key)
	if !ok || c.now().Sub(e.at) > c.ttl {
		return cachedPage{}, false
	}
	return e, true
}

// put stores a page read when the generation was gen, unless a change
// committed meanwhile may have changed it, or the changes since are no
// longer all known.
func (c *pageCache) put(key string, gen uint64, p cachedPage) {
	if c.max < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		i, _ := slices.BinarySearchFunc(c.recent, gen+1, func(g genChange, n uint64) int { return cmp.Compare(g.gen, n) })
		if i == len(c.recent) || c.recent[i].gen != gen+1 {
			return
		}
		for _, g := range c.recent[i:] {
			if g.ch == nil || g.ch.affects(p.q, p.rows) {
				return
			}
		}
	}
	p.at = c.now()
	c.entries.Add(key, p)
}

// getCounts returns the counters when they were read since the last change
// and within the TTL, and their JSON. Both are shared: callers do not
// change them.
func (c *pageCache) getCounts() (map[string]int64, []byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.counts
	if !e.ok || e.gen != c.gen || c.now().Sub(e.at) > c.ttl {
		return nil, nil, false
	}
	return e.counts, e.json, true
}

// putCounts keeps counters read when the generation was gen.
func (c *pageCache) putCounts(gen uint64, counts map[string]int64, json []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	c.counts = cachedCounts{ok: true, gen: gen, at: c.now(), counts: counts, json: json}
}

// invalidate drops every page and the counters.
func (c *pageCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record(nil)
	if c.entries != nil {
		c.entries.Purge()
	}
}

// changed drops the pages ch may have changed, and the counters.
func (c *pageCache) changed(ch *pageChange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record(ch)
	if c.entries == nil {
		return
	}
	for _, key := range c.entries.Keys() {
		if p, ok := c.entries.Peek(key); ok && ch.affects(p.q, p.rows) {
			c.entries.Remove(key)
		}
	}
}

// record starts a generation for a change (nil: of everything) and drops
// the counters; c.mu is held.
func (c *pageCache) record(ch *pageChange) {
	c.gen++
	c.counts = cachedCounts{}
	if len(c.recent) == recentChanges {
		c.recent = slices.Delete(c.recent, 0, 1)
	}
	c.recent = append(c.recent, genChange{gen: c.gen, ch: ch})
}

// etag is a strong validator of a page's encoded content.
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}
