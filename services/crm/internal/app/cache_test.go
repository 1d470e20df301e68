package app

import (
	"fmt"
	"testing"
	"time"
)

// A full page cache forgets its least recently used page, not every page:
// many distinct queries (a crawler, an attacker) cannot flush the pages the
// managers are reading (issue 15, point 10).
func TestPageCacheEvictsOldestWhenFull(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	c := newPageCache(10, time.Minute, func() time.Time { return now })
	gen := c.generation()
	c.put("hot", gen, Page{Next: "hot"})
	for i := range 100 {
		c.put(fmt.Sprint("q", i), gen, Page{Next: fmt.Sprint(i)})
		if _, ok := c.get("hot"); !ok {
			t.Fatalf("a page in use was dropped after %d other pages", i+1)
		}
	}
	if _, ok := c.get("q99"); !ok {
		t.Fatal("the newest page is not kept")
	}
	if _, ok := c.get("q0"); ok {
		t.Fatal("the cache holds more than its bound")
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.get("hot"); ok {
		t.Fatal("a page outlived its TTL")
	}
	c.put("after", gen, Page{})
	c.invalidate()
	if _, ok := c.get("after"); ok {
		t.Fatal("invalidate kept a page")
	}
}
