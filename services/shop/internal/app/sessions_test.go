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
	c.put(c.gen, "hot", Customer{ID: "hot"}, now.Add(time.Hour), now)
	for i := range 100 {
		c.put(c.gen, fmt.Sprint("s", i), Customer{}, now.Add(time.Hour), now)
		if _, _, ok := c.get("hot", now); !ok {
			t.Fatalf("a session in use was dropped after %d others", i+1)
		}
	}
	if _, _, ok := c.get("s0", now); ok {
		t.Fatal("the cache holds more than its bound")
	}
	if _, _, ok := c.get("hot", now.Add(6*time.Second)); ok {
		t.Fatal("an entry outlived the TTL")
	}
	c.put(c.gen, "short", Customer{}, now.Add(time.Second), now)
	if _, _, ok := c.get("short", now.Add(2*time.Second)); ok {
		t.Fatal("an expired session was served")
	}
	c.evict("hot")
	if _, _, ok := c.get("hot", now); ok {
		t.Fatal("evict kept the session")
	}
}

// A session read before an eviction is not kept after it (it may be the
// one evicted), and a customer's eviction ends only that customer's.
func TestSessionCacheEvictions(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	c := newSessionCache(5*time.Second, 10)
	_, gen, _ := c.get("a", now)
	c.evict("a")
	c.put(gen, "a", Customer{ID: "x"}, now.Add(time.Hour), now)
	if _, _, ok := c.get("a", now); ok {
		t.Fatal("a session read before its eviction was kept")
	}
	_, gen, _ = c.get("a", now)
	c.put(gen, "a", Customer{ID: "x"}, now.Add(time.Hour), now)
	c.put(c.gen, "b", Customer{ID: "x"}, now.Add(time.Hour), now)
	c.put(c.gen, "c", Customer{ID: "y"}, now.Add(time.Hour), now)
	c.evictCustomer("x")
	for hash, want := range map[string]bool{"a": false, "b": false, "c": true} {
		if _, _, ok := c.get(hash, now); ok != want {
			t.Errorf("session %s cached = %v after customer x's sessions ended, want %v", hash, ok, want)
		}
	}
}
