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
		run  func(c *Cache, clk *clock) (Entry, bool)
		want string // "" when the lookup must miss
	}{
		{"stored page is served", func(c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			return c.Get("ada", "first")
		}, "p1"},
		{"other key misses", func(c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			return c.Get("ada", "shipped")
		}, ""},
		{"other customer misses", func(c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			return c.Get("bob", "first")
		}, ""},
		{"expired page misses", func(c *Cache, clk *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			clk.t = clk.t.Add(time.Minute)
			return c.Get("ada", "first")
		}, ""},
		{"invalidation drops the customer's pages", func(c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			c.Invalidate("ada")
			return c.Get("ada", "first")
		}, ""},
		{"invalidation spares other customers", func(c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("bob"), "first", page("b1"))
			c.Invalidate("ada")
			return c.Get("bob", "first")
		}, "b1"},
		{"a page read before an invalidation is not stored", func(c *Cache, _ *clock) (Entry, bool) {
			tk := c.Begin("ada") // the reader queries...
			c.Invalidate("ada")  // ...an order of ada commits meanwhile...
			c.Put(tk, "first", page("stale"))
			return c.Get("ada", "first")
		}, ""},
		{"a page read after an invalidation is stored", func(c *Cache, _ *clock) (Entry, bool) {
			c.Invalidate("ada")
			c.Put(c.Begin("ada"), "first", page("fresh"))
			return c.Get("ada", "first")
		}, "fresh"},
		{"the last page read is served", func(c *Cache, _ *clock) (Entry, bool) {
			c.Put(c.Begin("ada"), "first", page("p1"))
			c.Put(c.Begin("ada"), "first", page("p2"))
			return c.Get("ada", "first")
		}, "p2"},
		{"a customer's pages are bounded", func(c *Cache, _ *clock) (Entry, bool) {
			for _, k := range []string{"a", "b", "c"} { // 2 pages a customer: the third drops the others
				c.Put(c.Begin("ada"), k, page(k))
			}
			return c.Get("ada", "a")
		}, ""},
		{"the customers are bounded", func(c *Cache, _ *clock) (Entry, bool) {
			for _, who := range []string{"ada", "bob", "cy", "dee"} { // 3 customers at most
				c.Put(c.Begin(who), "first", page(who))
			}
			return c.Get("dee", "first")
		}, "dee"},
		{"a reader whose customer was forgotten stores nothing", func(c *Cache, _ *clock) (Entry, bool) {
			tk := c.Begin("ada")
			for _, who := range []string{"bob", "cy", "dee"} {
				c.Put(c.Begin(who), "first", page(who))
			}
			c.Put(tk, "first", page("ada"))
			return c.Get("ada", "first")
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
			c := New(10*time.Second, 3, 2, clk.now)
			e, ok := tt.run(c, clk)
			if got := string(e.Body); ok != (tt.want != "") || got != tt.want {
				t.Fatalf("got %q (hit %v), want %q", got, ok, tt.want)
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
