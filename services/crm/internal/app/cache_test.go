package app

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/store"
)

// A full page cache forgets its least recently used page, not every page:
// many distinct queries (a crawler, an attacker) cannot flush the pages the
// managers are reading (issue 15, point 10).
func TestPageCacheEvictsOldestWhenFull(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	c := newPageCache(10, time.Minute, func() time.Time { return now })
	gen := c.generation()
	c.put("hot", gen, cachedPage{next: "hot"})
	for i := range 100 {
		c.put(fmt.Sprint("q", i), gen, cachedPage{next: fmt.Sprint(i)})
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
	c.put("after", gen, cachedPage{})
	c.invalidate()
	if _, ok := c.get("after"); ok {
		t.Fatal("invalidate kept a page")
	}
}

// TestPageCacheKeepsPagesAChangeCannotReach: a change of one order drops
// the pages showing it and those whose query it enters, leaves or moves
// in; the others stay. A page read while a change committed is kept only
// if that change cannot have changed it, and only while the changes since
// its read are all known.
func TestPageCacheKeepsPagesAChangeCannotReach(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	parse := func(raw string) listquery.Query {
		v, _ := url.ParseQuery(raw)
		q, err := listquery.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	acmeRow := store.ListRow{OrderID: "o1", Status: "placed", Channel: "api", CustomerID: "c-acme", Total: 100}
	pages := map[string]cachedPage{
		"acme":   {q: parse("q=acme"), rows: []store.ListRow{acmeRow}},
		"placed": {q: parse("status=placed"), rows: []store.ListRow{acmeRow}},
		"priced": {q: parse("status=priced")},
		"all":    {q: parse("")},
		"total":  {q: parse("sort=total")},
	}
	newOrder := &pageChange{OrderID: "o2", After: store.ListFacts{Status: "placed", Channel: "shop", CustomerID: "c-anna", Total: 50},
		Tokens: []string{"anna", "fab", "smith"}}
	o3 := store.ListFacts{Status: "priced", Channel: "shop", CustomerID: "c-anna", Total: 70}
	o3started, o3repriced := o3, o3
	o3started.Status = "in_production"
	o3repriced.Total = 90
	cases := []struct {
		name    string
		ch      *pageChange
		dropped []string
	}{
		{"an order placed", newOrder, []string{"placed", "all", "total"}},
		{"an order on a page priced", &pageChange{OrderID: "o1", Before: &store.ListFacts{Status: "placed"}, After: store.ListFacts{Status: "priced"}},
			[]string{"acme", "placed", "priced"}},
		{"an order started", &pageChange{OrderID: "o3", Before: &o3, After: o3started}, []string{"priced"}},
		{"an order's total changed", &pageChange{OrderID: "o3", Before: &o3, After: o3repriced}, []string{"total"}},
	}
	for _, c := range cases {
		cache := newPageCache(10, time.Minute, func() time.Time { return now })
		for k, p := range pages {
			cache.put(k, cache.generation(), p)
		}
		cache.changed(c.ch)
		for k := range pages {
			_, kept := cache.get(k)
			if dropped := slices.Contains(c.dropped, k); kept == dropped {
				t.Errorf("%s: page %q kept %v", c.name, k, kept)
			}
		}
	}

	c := newPageCache(10, time.Minute, func() time.Time { return now })
	gen := c.generation()
	c.changed(newOrder)
	c.put("acme", gen, pages["acme"])
	c.put("all", gen, pages["all"])
	if _, ok := c.get("acme"); !ok {
		t.Error("a page read while an order it cannot show was placed is not kept")
	}
	if _, ok := c.get("all"); ok {
		t.Error("a page read while an order it shows was placed is kept")
	}
	gen = c.generation()
	for range recentChanges + 1 {
		c.changed(&pageChange{OrderID: "o9", Before: &o3, After: o3})
	}
	if c.put("priced", gen, pages["priced"]); func() bool { _, ok := c.get("priced"); return ok }() {
		t.Error("a page read before the changes put remembers is kept")
	}
	gen = c.generation()
	c.invalidate()
	if c.put("acme", gen, pages["acme"]); func() bool { _, ok := c.get("acme"); return ok }() {
		t.Error("a page read before every page was dropped is kept")
	}
}
