package orderpage

import (
	"testing"
	"time"
)

// clock is a settable time for the cache.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestCache(t *testing.T) {
	t.Parallel()
	page := func(s string) Entry { return Entry{Body: []byte(s), ETag: `"` + s + `"`} }
	tests := []struct {
		name string
		run  func(t *testing.T, c *Cache, clk *clock) (Entry, bool)
		want string // "" when the lookup must miss
	}{
		{"stored page is served", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			return c.Get("ada", "first")
		}, "p1"},
		{"other key misses", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			return c.Get("ada", "shipped")
		}, ""},
		{"other customer misses", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			return c.Get("bob", "first")
		}, ""},
		{"expired page misses", func(_ *testing.T, c *Cache, clk *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			clk.t = clk.t.Add(time.Minute)
			return c.Get("ada", "first")
		}, ""},
		{"purge drops every customer's pages", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			c.Put(c.Begin("bob"), "first", page("p2"))
			c.Purge()
			if _, ok := c.Get("ada", "first"); ok {
				return Entry{}, true
			}
			return c.Get("bob", "first")
		}, ""},
		{"a page read before a purge is not stored", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			tk := c.Begin("ada")
			c.Purge()
			c.Put(tk, "first", page("old"))
			return c.Get("ada", "first")
		}, ""},
		{"invalidation drops the customer's pages", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			c.Invalidate("ada")
			return c.Get("ada", "first")
		}, ""},
		{"invalidation spares other customers", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("bob"), "first", page("b1"))
			c.Invalidate("ada")
			return c.Get("bob", "first")
		}, "b1"},
		{"a page read before an invalidation is not stored", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			tk := c.Begin("ada") // the reader queries...
			c.Invalidate("ada")  // ...an order of ada commits meanwhile...
			c.Put(tk, "first", page("stale"))
			return c.Get("ada", "first")
		}, ""},
		{"a page read after an invalidation is stored", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			c.Invalidate("ada")
			c.Put(c.Begin("ada"), "first", page("fresh"))
			return c.Get("ada", "first")
		}, "fresh"},
		{"the last page read is served", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			c.Put(c.Begin("ada"), "first", page("p2"))
			return c.Get("ada", "first")
		}, "p2"},
		{"a customer's pages are bounded", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			for _, k := range []string{"a", "b", "c"} { // 2 pages a customer: the third drops the others
				c.Put(c.Begin("ada"), k, page(k))
			}
			return c.Get("ada", "a")
		}, ""},
		{"the bytes are bounded: over the budget the cache starts again", func(t *testing.T, c *Cache, _ *clock) (Entry, bool) {
			for _, who := range []string{"ada", "bob", "cy"} { // 4 bytes each, 10 at most
				c.Put(c.Begin(who), "first", page(who+who[:1]))
			}
			if _, ok := c.Get("ada", "first"); ok {
				t.Error("ada's page survived the budget")
			}
			return c.Get("cy", "first")
		}, "cyc"},
		{"a page larger than the budget is not stored", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("this page is too long"))
			return c.Get("ada", "first")
		}, ""},
		{"a reader whose customer was forgotten stores nothing", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			tk := c.Begin("ada")
			c.Put(c.Begin("bob"), "first", page("bobbob"))
			c.Put(c.Begin("cy"), "first", page("cycycy")) // over the budget: ada, without pages, is forgotten
			c.Put(tk, "first", page("ada"))
			return c.Get("ada", "first")
		}, ""},
		{"replacing a page counts its bytes once", func(_ *testing.T, c *Cache, _ *clock) (Entry, bool) {
			for range 5 {
				c.Put(c.Begin("ada"), "first", page("abc"))
			}
			c.Put(c.Begin("bob"), "first", page("bcd"))
			return c.Get("ada", "first")
		}, "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
			c := New(10*time.Second, 10, 2, clk.now)
			e, ok := tt.run(t, c, clk)
			if got := string(e.Body); ok != (tt.want != "") || got != tt.want {
				t.Fatalf("got %q (hit %v), want %q", got, ok, tt.want)
			}
			held := 0
			for _, o := range c.owners {
				for _, p := range o.pages {
					held += len(p.Body)
				}
			}
			if held != c.bytes || c.bytes > c.maxBytes {
				t.Fatalf("the cache counts %d bytes, holds %d, budget %d", c.bytes, held, c.maxBytes)
			}
		})
	}
}

func TestOffCacheStoresNothing(t *testing.T) {
	t.Parallel()
	c := New(0, 10, 10, nil)
	if c != nil {
		t.Fatal("a cache with no lifetime must be off (nil)")
	}
	c.Put(c.Begin("ada"), "first", Entry{Body: []byte("x")})
	c.Invalidate("ada")
	if _, ok := c.Get("ada", "first"); ok {
		t.Fatal("an off cache served a page")
	}
}
