package crm

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/store"
)

// RareTogether returns up to n searches of the orders list, for the
// benchmarks (crm-bench, pagebench): companies' first three words whose
// words each match more than store.SelectiveMatches orders' tokens (and
// fewer than wordCap) and that together match fewer than a page of orders
// (50), the most matches of their words first; a company name first by
// its words. The same data gives the same list: crm-datagen's companies
// such as "kestrel systems 56" (10,000+ orders a word, 5 together), the
// costliest searches for plans that read the words' orders.
func RareTogether(ctx context.Context, db *sqldb.DB, n int) ([]string, error) {
	const wordCap, page = 100_000, 50
	rows, err := db.QueryContext(ctx, `SELECT customer_company, COUNT(*) FROM crm_order_list WHERE customer_company <> '' GROUP BY customer_company`)
	if err != nil {
		return nil, fmt.Errorf("companies: %w", err)
	}
	own := map[string]int64{} // a search: its company's own orders
	for rows.Next() {
		var company string
		var orders int64
		if err := rows.Scan(&company, &orders); err != nil {
			rows.Close()
			return nil, fmt.Errorf("companies: %w", err)
		}
		if w := listquery.Words(company); len(w) >= 3 {
			own[strings.Join(w[:3], " ")] += orders
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("companies: %w", err)
	}
	matches := map[string]int64{}
	for q := range own {
		for _, w := range strings.Fields(q) {
			if _, ok := matches[w]; ok {
				continue
			}
			lo, hi := listquery.PrefixRange(w)
			var c int64
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM crm_order_tokens WHERE token >= $1 AND token < $2 LIMIT $3) m`,
				lo, hi, wordCap).Scan(&c); err != nil {
				return nil, fmt.Errorf("count %q: %w", w, err)
			}
			matches[w] = c
		}
	}
	type candidate struct {
		q     string
		words int64
	}
	var cands []candidate
	for q, orders := range own {
		c := candidate{q: q}
		ok := orders < page
		for _, w := range strings.Fields(q) {
			ok = ok && matches[w] > store.SelectiveMatches && matches[w] < wordCap
			c.words += matches[w]
		}
		if ok {
			cands = append(cands, c)
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int { return cmp.Or(cmp.Compare(b.words, a.words), strings.Compare(a.q, b.q)) })
	var out []string
	for _, c := range cands {
		if len(out) == n {
			break
		}
		// Together, by the search's rule: every word the prefix of a
		// token of the order (other companies' orders among them).
		query, args := store.IntersectSQL(strings.Fields(c.q), 20*page) // an order may come twice
		var together int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT order_id) FROM (`+query+`) m`, args...).Scan(&together); err != nil {
			return nil, fmt.Errorf("search %q: %w", c.q, err)
		}
		if together < page {
			out = append(out, c.q)
		}
	}
	return out, nil
}
