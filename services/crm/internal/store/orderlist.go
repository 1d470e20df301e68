package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
)

// ListRow is one row of the orders page's read model.
type ListRow struct {
	OrderID         string    `json:"id"`
	Number          string    `json:"number"`
	Channel         string    `json:"channel"`
	Status          string    `json:"status"`
	StatusSince     time.Time `json:"status_since"`
	PlacedAt        time.Time `json:"placed_at"`
	Total           int64     `json:"total"`
	Currency        string    `json:"currency"`
	Manager         string    `json:"manager,omitempty"`
	CustomerID      string    `json:"customer_id"`
	CustomerName    string    `json:"customer_name"`
	CustomerEmail   string    `json:"customer_email"`
	CustomerCompany string    `json:"customer_company,omitempty"`
}

const listColumns = `order_id, number, channel, status, status_since, placed_at, total, currency, manager,
	customer_id, customer_name, customer_email, customer_company`

// InsertListRow adds an order to the read model with its search tokens and
// counts it.
func InsertListRow(ctx context.Context, q Querier, r ListRow) error {
	_, err := q.ExecContext(ctx, `INSERT INTO crm_order_list (`+listColumns+`, search)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (order_id) DO NOTHING`,
		r.OrderID, r.Number, r.Channel, r.Status, sqldb.Micros(r.StatusSince), sqldb.Micros(r.PlacedAt), r.Total, r.Currency, r.Manager,
		r.CustomerID, r.CustomerName, r.CustomerEmail, r.CustomerCompany,
		listquery.SearchText(r.Number, r.CustomerName, r.CustomerEmail, r.CustomerCompany))
	if err != nil {
		return fmt.Errorf("insert order list row %s: %w", r.OrderID, err)
	}
	for _, t := range listquery.Tokens(r.Number, r.CustomerName, r.CustomerEmail, r.CustomerCompany) {
		if _, err := q.ExecContext(ctx, `INSERT INTO crm_order_tokens (token, order_id) VALUES ($1, $2) ON CONFLICT (token, order_id) DO NOTHING`,
			t, r.OrderID); err != nil {
			return fmt.Errorf("insert search token of %s: %w", r.OrderID, err)
		}
	}
	for _, c := range []string{"all", "status:" + r.Status, "channel:" + r.Channel} {
		if err := AddCounter(ctx, q, c, 1); err != nil {
			return err
		}
	}
	return nil
}

// AddCounter adds delta to a named counter.
func AddCounter(ctx context.Context, q Querier, name string, delta int64) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO crm_counters (name, n) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET n = crm_counters.n + excluded.n`, name, delta); err != nil {
		return fmt.Errorf("counter %s: %w", name, err)
	}
	return nil
}

// Counts returns every counter: "all", "status:<s>", "channel:<c>".
func Counts(ctx context.Context, q Querier) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, n FROM crm_counters`)
	if err != nil {
		return nil, fmt.Errorf("counters: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("counters: %w", err)
		}
		out[k] = n
	}
	return out, rows.Err()
}

func scanList(rows *sql.Rows) ([]ListRow, error) {
	defer rows.Close()
	var out []ListRow
	for rows.Next() {
		var r ListRow
		var since, placed int64
		if err := rows.Scan(&r.OrderID, &r.Number, &r.Channel, &r.Status, &since, &placed, &r.Total, &r.Currency, &r.Manager,
			&r.CustomerID, &r.CustomerName, &r.CustomerEmail, &r.CustomerCompany); err != nil {
			return nil, fmt.Errorf("scan order list: %w", err)
		}
		r.StatusSince, r.PlacedAt = sqldb.FromMicros(since), sqldb.FromMicros(placed)
		out = append(out, r)
	}
	return out, rows.Err()
}

// SelectiveMatches is the number of matching tokens under which a search
// word drives the query: its orders are fetched by key and sorted. Words
// with more matches are checked on each row (the search column) while the
// list is read in its sort order, which stops after one page: for a common
// word that comes soon.
const SelectiveMatches = 3000

// ListSQL builds the statement of a query: fixed fragments chosen by the
// validated query, every value a parameter. drive is the index of the search
// word that drives the query (see SelectiveMatches), or -1.
func ListSQL(q listquery.Query, drive int) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Status != "" {
		where = append(where, "status = "+arg(q.Status))
	}
	if q.Channel != "" {
		where = append(where, "channel = "+arg(q.Channel))
	}
	if q.Manager != "" {
		where = append(where, "manager = "+arg(q.Manager))
	}
	if q.CustomerID != "" {
		where = append(where, "customer_id = "+arg(q.CustomerID))
	}
	if !q.From.IsZero() {
		where = append(where, "placed_at >= "+arg(sqldb.Micros(q.From)))
	}
	if !q.To.IsZero() {
		where = append(where, "placed_at < "+arg(sqldb.Micros(q.To)))
	}
	for i, w := range q.Words {
		if i != drive {
			// Checked on the row itself, as the list is read in its order.
			// The CASE hides the pattern from PostgreSQL's estimate, which
			// takes '% word%' for a rare match and would sort the whole
			// table rather than read its index until a page is full.
			where = append(where, "CASE WHEN search LIKE "+arg(listquery.LikePattern(w))+" THEN 1 ELSE 0 END = 1")
			continue
		}
		// A LIMIT keeps the subquery apart: the few orders that match the
		// rarest word are looked up by key and sorted.
		lo, hi := listquery.PrefixRange(w)
		cond := "order_id IN (SELECT order_id FROM crm_order_tokens WHERE token >= " + arg(lo)
		if hi != "" {
			cond += " AND token < " + arg(hi)
		}
		where = append(where, cond+" LIMIT "+strconv.Itoa(SelectiveMatches)+")")
	}
	col := "placed_at"
	if q.Sort == listquery.SortTotal {
		col = "total"
	}
	cmp, dir := "<", "DESC"
	if q.Dir == listquery.Asc {
		cmp, dir = ">", "ASC"
	}
	if q.After != nil {
		where = append(where, "("+col+", order_id) "+cmp+" ("+arg(q.After.Value)+", "+arg(q.After.ID)+")")
	}
	s := "SELECT " + listColumns + " FROM crm_order_list"
	if len(where) > 0 {
		s += " WHERE " + strings.Join(where, " AND ")
	}
	s += " ORDER BY " + col + " " + dir + ", order_id " + dir + " LIMIT " + arg(q.Limit+1)
	return s, args
}

// List returns a page of the orders list and the cursor of the next page
// ("" on the last page).
func List(ctx context.Context, db Querier, q listquery.Query) ([]ListRow, string, error) {
	drive, err := DrivingWord(ctx, db, q.Words)
	if err != nil {
		return nil, "", err
	}
	query, args := ListSQL(q, drive)
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list orders: %w", err)
	}
	out, err := scanList(rows)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		last := out[len(out)-1]
		c := listquery.Cursor{ID: last.OrderID, Value: sqldb.Micros(last.PlacedAt)}
		if q.Sort == listquery.SortTotal {
			c.Value = last.Total
		}
		next = q.EncodeCursor(c)
	}
	return out, next, nil
}

// DrivingWord returns the index of the search word with the fewest
// matching tokens when it has fewer than SelectiveMatches, else -1. Counting
// stops at the threshold, so it reads at most that many index entries a word.
func DrivingWord(ctx context.Context, db Querier, words []string) (int, error) {
	best, bestN := -1, int64(SelectiveMatches)
	for i, w := range words {
		lo, hi := listquery.PrefixRange(w)
		var n int64
		var err error
		if hi == "" {
			err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM crm_order_tokens WHERE token >= $1 LIMIT $2) m`,
				lo, SelectiveMatches).Scan(&n)
		} else {
			err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM crm_order_tokens WHERE token >= $1 AND token < $2 LIMIT $3) m`,
				lo, hi, SelectiveMatches).Scan(&n)
		}
		if err != nil {
			return -1, fmt.Errorf("count search matches: %w", err)
		}
		if n < bestN {
			best, bestN = i, n
		}
	}
	return best, nil
}

// Stuck returns orders that have stayed in a status longer than its
// threshold, oldest first.
func Stuck(ctx context.Context, db Querier, thresholds map[string]time.Duration, now time.Time, limit int) ([]ListRow, error) {
	var all []ListRow
	for status, d := range thresholds {
		rows, err := db.QueryContext(ctx, `SELECT `+listColumns+` FROM crm_order_list WHERE status = $1 AND status_since < $2
			ORDER BY status_since LIMIT $3`, status, sqldb.Micros(now.Add(-d)), limit)
		if err != nil {
			return nil, fmt.Errorf("stuck %s orders: %w", status, err)
		}
		got, err := scanList(rows)
		if err != nil {
			return nil, err
		}
		all = append(all, got...)
	}
	slices.SortFunc(all, func(a, b ListRow) int {
		if c := a.StatusSince.Compare(b.StatusSince); c != 0 {
			return c
		}
		return strings.Compare(a.OrderID, b.OrderID)
	})
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}
