package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/shop/internal/store"
)

// Product is a product as the catalogue shows it: the price list's product
// with the names of its materials and finishes and the shop's own texts.
type Product struct {
	contracts.Product
	Tagline   string
	Details   string
	Materials []contracts.Material
	Finishes  []contracts.Finish
}

// Catalog is what customers browse: the products of the current price list.
type Catalog struct {
	Version          int64
	Currency         string
	PublishedAt      time.Time
	StandardLeadDays int
	RushLeadDays     int
	MaxQuantity      int
	Products         []Product
}

// Product finds a product of the catalogue.
func (c *Catalog) Product(code string) (Product, bool) {
	i := slices.IndexFunc(c.Products, func(p Product) bool { return p.Code == code })
	if i < 0 {
		return Product{}, false
	}
	return c.Products[i], true
}

// cache holds the current price list and the catalogue built from it. A new
// price list empties it, on every replica, after its transaction commits;
// entries also expire after a TTL, the bound while invalidations cannot
// reach a replica (broker away).
type cache struct {
	ttl      time.Duration
	now      func() time.Time
	requests *prometheus.CounterVec

	mu      sync.Mutex
	catalog *Catalog
	pl      *contracts.PriceListV1
	loaded  time.Time
	gen     uint64     // bumped by every invalidation
	load    sync.Mutex // one loader at a time: a stampede of misses makes one query
}

func newCache(ttl time.Duration, now func() time.Time, reg prometheus.Registerer) (*cache, error) {
	c := &cache{ttl: ttl, now: now, requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fabrika_cache_requests_total", Help: "In-process cache lookups by cache and result (hit or miss).",
	}, []string{"cache", "result"})}
	if reg != nil {
		if err := reg.Register(c.requests); err != nil {
			return nil, fmt.Errorf("register cache metrics: %w", err)
		}
	}
	for _, name := range []string{"catalog", "pricelist", "product", "session", "orders"} {
		c.requests.WithLabelValues(name, "hit")
		c.requests.WithLabelValues(name, "miss")
	}
	return c, nil
}

// invalidate drops everything; the next lookup reloads.
func (c *cache) invalidate() {
	c.mu.Lock()
	c.catalog, c.pl = nil, nil
	c.gen++
	c.mu.Unlock()
}

func (c *cache) fresh() (*Catalog, *contracts.PriceListV1, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pl == nil || c.now().Sub(c.loaded) > c.ttl {
		return nil, nil, false
	}
	return c.catalog, c.pl, true
}

// get returns the catalogue and the price list, from memory when it can; the
// lookup counts as a hit or a miss of the named cache.
func (c *cache) get(ctx context.Context, name string, st *store.Store) (*Catalog, *contracts.PriceListV1, error) {
	if cat, pl, ok := c.fresh(); ok {
		c.requests.WithLabelValues(name, "hit").Inc()
		return cat, pl, nil
	}
	c.requests.WithLabelValues(name, "miss").Inc()
	c.load.Lock()
	defer c.load.Unlock()
	if cat, pl, ok := c.fresh(); ok {
		return cat, pl, nil
	}
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	pl, err := st.CurrentPriceList(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrNoPriceList
	}
	if err != nil {
		return nil, nil, err
	}
	infos, err := st.ProductInfos(ctx)
	if err != nil {
		return nil, nil, err
	}
	cat := buildCatalog(pl, infos)
	c.mu.Lock()
	if c.gen == gen { // else a newer list committed while this one was read
		c.catalog, c.pl, c.loaded = cat, &pl, c.now()
	}
	c.mu.Unlock()
	return cat, &pl, nil
}

func buildCatalog(pl contracts.PriceListV1, infos map[string]store.ProductInfo) *Catalog {
	cat := &Catalog{Version: pl.Version, Currency: pl.Currency, PublishedAt: pl.PublishedAt,
		StandardLeadDays: pl.StandardLeadDays, RushLeadDays: pl.RushLeadDays, MaxQuantity: pl.MaxQuantity}
	for _, p := range pl.Products {
		cp := Product{Product: p}
		if info, ok := infos[p.Code]; ok {
			cp.Tagline, cp.Details = info.Tagline, info.Details
		}
		for _, code := range p.Materials {
			if i := slices.IndexFunc(pl.Materials, func(m contracts.Material) bool { return m.Code == code }); i >= 0 {
				cp.Materials = append(cp.Materials, pl.Materials[i])
			}
		}
		for _, code := range p.Finishes {
			if i := slices.IndexFunc(pl.Finishes, func(f contracts.Finish) bool { return f.Code == code }); i >= 0 {
				cp.Finishes = append(cp.Finishes, pl.Finishes[i])
			}
		}
		cat.Products = append(cat.Products, cp)
	}
	order := func(code string) int {
		if info, ok := infos[code]; ok {
			return info.SortOrder
		}
		return 1 << 20
	}
	slices.SortStableFunc(cat.Products, func(a, b Product) int { return order(a.Code) - order(b.Code) })
	return cat
}

// Labels name the codes of the price list (products, materials, finishes)
// for customers, who never see internal codes.
type Labels struct {
	names map[string]string // kind + "/" + code -> name
}

// Name is the name of a code of kind ("product", "material", "finish"); a
// code the current price list no longer has is spelled out from its code.
func (l Labels) Name(kind, code string) string {
	if n, ok := l.names[kind+"/"+code]; ok {
		return n
	}
	if code == "" {
		return ""
	}
	s := strings.ReplaceAll(code, "_", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

// Labels returns the names of the current price list's codes; without a
// price list (or while the database is down) codes are spelled out.
func (s *Shop) Labels(ctx context.Context) Labels {
	_, pl, err := s.cache.get(ctx, "pricelist", s.st)
	l := Labels{names: map[string]string{}}
	if err != nil {
		return l
	}
	for _, p := range pl.Products {
		l.names["product/"+p.Code] = p.Name
	}
	for _, m := range pl.Materials {
		l.names["material/"+m.Code] = m.Name
	}
	for _, f := range pl.Finishes {
		l.names["finish/"+f.Code] = f.Name
	}
	return l
}

// Catalog returns the catalogue of the current price list.
func (s *Shop) Catalog(ctx context.Context) (*Catalog, error) {
	cat, _, err := s.cache.get(ctx, "catalog", s.st)
	return cat, err
}

// Product returns one product of the catalogue.
func (s *Shop) Product(ctx context.Context, code string) (*Catalog, Product, error) {
	cat, _, err := s.cache.get(ctx, "product", s.st)
	if err != nil {
		return nil, Product{}, err
	}
	p, ok := cat.Product(code)
	if !ok {
		return nil, Product{}, errorf(KindNotFound, "no product %q in the catalogue", code)
	}
	return cat, p, nil
}

// PriceList returns the current price list.
func (s *Shop) PriceList(ctx context.Context) (*contracts.PriceListV1, error) {
	_, pl, err := s.cache.get(ctx, "pricelist", s.st)
	return pl, err
}

// Price is a quote as a customer sees it: prices and lead time, never the
// factory's cost or routing (contracts.Quote has both, for mes-calc).
type Price struct {
	PriceListVersion int64             `json:"price_list_version"`
	Currency         string            `json:"currency"`
	UnitPrice        int64             `json:"unit_price"`
	Total            int64             `json:"total"`
	LeadDays         int               `json:"lead_days"`
	Breaks           []contracts.Break `json:"breaks"`
}

// Quote prices a configured part with the current price list. A wrong
// configuration is a KindInvalid error naming the field.
func (s *Shop) Quote(ctx context.Context, c contracts.Config) (Price, error) {
	pl, err := s.PriceList(ctx)
	if err != nil {
		return Price{}, err
	}
	q, err := pl.Quote(c)
	if err != nil {
		var qe *contracts.QuoteError
		if errors.As(err, &qe) {
			return Price{}, invalid("the configuration cannot be quoted", map[string]string{quoteField(qe.Field): qe.Message})
		}
		return Price{}, fmt.Errorf("quote: %w", err)
	}
	return Price{PriceListVersion: q.PriceListVersion, Currency: q.Currency, UnitPrice: q.UnitPrice, Total: q.Total,
		LeadDays: q.LeadDays, Breaks: q.Breaks}, nil
}

// quoteField names a quote error's field as forms and API bodies name it.
func quoteField(f string) string {
	switch f {
	case "product", "quantity", "lead":
		return f
	}
	return "options." + f
}

// ReceivePriceList stores a price list from mes-calc in tx; the cache of
// every replica is emptied once tx commits. A version older than the current one is kept
// but never becomes current.
func (s *Shop) ReceivePriceList(ctx context.Context, tx *sqldb.Tx, pl contracts.PriceListV1) error {
	isNew, err := s.st.SavePriceList(ctx, tx, pl, s.now())
	if err != nil {
		return err
	}
	if isNew {
		tx.AfterCommit(func() { s.caches.Invalidate(cacheCatalog, "") })
	}
	return nil
}
