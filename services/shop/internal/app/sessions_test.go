package app

import (
	"fmt"
	"testing"
	"time"
)

// A full session cache forgets its least recently used session, not all of
// them (issue 15, point 10), and never serves an entry past its TTL or the
// session's own expiry.
func TestSessionCacheEvictsOldestWhenFull(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	c := newSessionCache(5*time.Second, 10)
	c.put("hot", Customer{ID: "hot"}, now.Add(time.Hour), now)
	for i := range 100 {
		c.put(fmt.Sprint("s", i), Customer{}, now.Add(time.Hour), now)
		if _, ok := c.get("hot", now); !ok {
			t.Fatalf("a session in use was dropped after %d others", i+1)
		}
	}
	if _, ok := c.get("s0", now); ok {
		t.Fatal("the cache holds more than its bound")
	}
	if _, ok := c.get("hot", now.Add(6*time.Second)); ok {
		t.Fatal("an entry outlived the TTL")
	}
	c.put("short", Customer{}, now.Add(time.Second), now)
	if _, ok := c.get("short", now.Add(2*time.Second)); ok {
		t.Fatal("an expired session was served")
	}
	c.evict("hot")
	if _, ok := c.get("hot", now); ok {
		t.Fatal("evict kept the session")
	}
}
