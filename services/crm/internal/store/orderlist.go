package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/hashicorp/golang-lru/v2/simplelru"
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
	// CancelRequested: the customer asked to cancel and the order is
	// neither cancelled nor shipped.
	CancelRequested bool `json:"cancel_requested,omitempty"`
}

const listColumns = `order_id, number, channel, status, status_since, placed_at, total, currency, manager,
	customer_id, customer_name, customer_email, customer_company, cancel_requested`

// InsertListRow adds an order to the read model with its search tokens and
// counts it.
func (s *Store) InsertListRow(ctx context.Context, q sqldb.Querier, r ListRow) error {
	return s.write(ctx, q, func(w *Writes) { w.InsertListRow(r) })
}

// InsertListRow adds an order to the read model with its search tokens and
// counts it.
func (w *Writes) InsertListRow(r ListRow) {
	w.b.Add(`INSERT INTO crm_order_list (`+listColumns+`, search)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (order_id) DO NOTHING`,
		r.OrderID, r.Number, r.Channel, r.Status, sqldb.Micros(r.StatusSince), sqldb.Micros(r.PlacedAt), r.Total, r.Currency, r.Manager,
		r.CustomerID, r.CustomerName, r.CustomerEmail, r.CustomerCompany, boolInt(r.CancelRequested),
		listquery.SearchText(r.Number, r.CustomerName, r.CustomerEmail, r.CustomerCompany))
	// One statement for all the tokens (an order has about 7): a round
	// trip each was a third of what placing an order cost the CRM.
	tokens := listquery.Tokens(r.Number, r.CustomerName, r.CustomerEmail, r.CustomerCompany)
	if len(tokens) > 0 {
		var b strings.Builder
		args := make([]any, 0, 4*len(tokens))
		b.WriteString(`INSERT INTO crm_order_tokens (token, order_id, head, placed_at) VALUES `)
		for i, t := range tokens {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "($%d, $%d, $%d, $%d)", 4*i+1, 4*i+2, 4*i+3, 4*i+4)
			args = append(args, t, r.OrderID, listquery.Head(t), sqldb.Micros(r.PlacedAt))
		}
		b.WriteString(` ON CONFLICT (token, order_id) DO NOTHING`)
		w.b.Add(b.String(), args...)
		// And by customer (PlanCustomers): a customer's next orders add
		// only their new tokens (the number's). Not through a unique key:
		// two transactions adding the same new token of a customer (its
		// first orders, in two inbox batches) would wait for each other,
		// and deadlock in batches of two customers; at worst both add it,
		// which only costs a row.
		b.Reset()
		args = make([]any, 0, len(tokens)+1)
		b.WriteString(`INSERT INTO crm_customer_tokens (token, customer_id) SELECT v.token, v.customer_id FROM (`)
		for i, t := range tokens {
			if i > 0 {
				b.WriteString(" UNION ALL ")
			}
			fmt.Fprintf(&b, "SELECT CAST($%d AS TEXT) AS token, CAST($%d AS TEXT) AS customer_id", i+1, len(tokens)+1)
			args = append(args, t)
		}
		args = append(args, r.CustomerID)
		b.WriteString(`) v WHERE NOT EXISTS (SELECT 1 FROM crm_customer_tokens c WHERE c.token = v.token AND c.customer_id = v.customer_id)`)
		w.b.Add(b.String(), args...)
		w.tokens = append(w.tokens, tokens...)
	}
	w.AddCounters(Delta{"all", 1}, Delta{"status:" + r.Status, 1}, Delta{"channel:" + r.Channel, 1})
}

// Delta is a change of a named counter.
type Delta struct {
	Name string
	N    int64
}

// AddCounter adds delta to a named counter.
func (s *Store) AddCounter(ctx context.Context, q sqldb.Querier, name string, delta int64) error {
	return s.write(ctx, q, func(w *Writes) { w.AddCounters(Delta{name, delta}) })
}

// AddCounters adds to named counters: it appends the changes, in one
// statement, which locks no row another transaction needs (FoldCounters
// moves them into the counters later).
func (w *Writes) AddCounters(ds ...Delta) {
	if len(ds) == 0 {
		return
	}
	var b strings.Builder
	args := make([]any, 0, 2*len(ds))
	b.WriteString(`INSERT INTO crm_counter_deltas (name, delta) VALUES `)
	for i, d := range ds {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "($%d, $%d)", 2*i+1, 2*i+2)
		args = append(args, d.Name, d.N)
	}
	w.b.Add(b.String(), args...)
}

// FoldCounters moves the appended changes into the counters, in one
// transaction; it returns how many changes it moved. The DELETE takes the
// changes committed when it starts (a change committed meanwhile waits for
// the next fold), so two folds at once never count a change twice.
func (s *Store) FoldCounters(ctx context.Context) (int, error) {
	var moved int
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		moved = 0
		rows, err := tx.QueryContext(ctx, `DELETE FROM crm_counter_deltas RETURNING name, delta`)
		if err != nil {
			return fmt.Errorf("take counter changes: %w", err)
		}
		sum := map[string]int64{}
		for rows.Next() {
			var name string
			var d int64
			if err := rows.Scan(&name, &d); err != nil {
				rows.Close()
				return fmt.Errorf("take counter changes: %w", err)
			}
			sum[name] += d
			moved++
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("take counter changes: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("take counter changes: %w", err)
		}
		// In name order: two folds at once (two replicas) cannot deadlock.
		names := slices.Sorted(maps.Keys(sum))
		for _, name := range names {
			if _, err := tx.ExecContext(ctx, `INSERT INTO crm_counters (name, n) VALUES ($1, $2)
				ON CONFLICT (name) DO UPDATE SET n = crm_counters.n + excluded.n`, name, sum[name]); err != nil {
				return fmt.Errorf("counter %s: %w", name, err)
			}
		}
		return nil
	})
	return moved, err
}

// Counts returns every counter: "all", "status:<s>", "channel:<c>", with
// the changes not folded yet.
func (s *Store) Counts(ctx context.Context, q sqldb.Querier) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, CAST(SUM(n) AS BIGINT) FROM (
		SELECT name, n FROM crm_counters UNION ALL SELECT name, delta FROM crm_counter_deltas) AS c GROUP BY name`)
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
		var since, placed, cancel int64
		if err := rows.Scan(&r.OrderID, &r.Number, &r.Channel, &r.Status, &since, &placed, &r.Total, &r.Currency, &r.Manager,
			&r.CustomerID, &r.CustomerName, &r.CustomerEmail, &r.CustomerCompany, &cancel); err != nil {
			return nil, fmt.Errorf("scan order list: %w", err)
		}
		r.CancelRequested = cancel == 1
		r.StatusSince, r.PlacedAt = sqldb.FromMicros(since), sqldb.FromMicros(placed)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Search thresholds; see Options.
const (
	// SelectiveMatches is the number of matching tokens under which a
	// search word drives the query: the ids of its orders are read from
	// the token index, and those orders fetched by key, checked for the
	// other words and sorted. Words with more matches are read in
	// order: one word from the index of its head by date (PlanHead), or
	// the list read in its sort order with each row checked, which stops
	// after one page: for common words that comes soon.
	SelectiveMatches = 3000
	// ProbeOrders is the most orders of a driving word that are fetched
	// by key and checked for the other words on their rows (some pages
	// each); with more, the words' matches are intersected first (a range
	// of the token index each, hashed), which costs less than fetching a
	// thousand orders.
	ProbeOrders = 200
	// WalkRows is how many rows of the list the in-order read examines at
	// most before the search falls back to intersecting the words'
	// matches, for common words that are rare together ("acme
	// industries").
	WalkRows = 5_000
	// TokenRows is how many entries of its token PlanToken examines at most
	// before the search falls back to the other plans (words each common
	// but rare together: "acme industries 42", most of 42's orders not
	// Acme Industries').
	TokenRows = 5_000
	// CandidateCustomers is the most customers whose orders PlanCustomers
	// reads (a statement of as many index reads in order, merged: each
	// starts with its first match); with more, the words are common
	// together and the other plans find a page soon.
	CandidateCustomers = 128
	// CustomerMatches is the number of customers' tokens from which a word
	// does not narrow PlanCustomers' customers (a year, an order number's
	// "0", "com"): it is only checked on their orders' rows.
	CustomerMatches = 5_000
	// CustomerRows is the most orders (as crm_customers counts them) the
	// customers PlanCustomers found may have together for it to read
	// them: a customer with thousands of orders can have every word among
	// its orders but in none of them (its company's words, an order
	// number's), and then all its orders are read (7,700 in 12 ms of
	// PostgreSQL CPU, loaded, where intersecting the words' 70,000 orders
	// took 42 ms). With more, the words' orders are intersected
	// (PlanIntersect).
	CustomerRows = 20_000
)

// Options are the thresholds that choose a search's plan, and a trace.
type Options struct {
	Selective int // see SelectiveMatches
	WalkRows  int // see WalkRows
	Intersect int // most orders fetched by key after an intersection (SelectiveMatches)
	Probe     int // see ProbeOrders
	// Token is the most index entries of one token the in-date-order read
	// of PlanToken examines (see TokenRows); 0: no PlanToken.
	Token int
	// Customers is the most customers whose orders PlanCustomers reads
	// (see CandidateCustomers); 0: no PlanCustomers.
	Customers int
	// CustomerWords: see CustomerMatches.
	CustomerWords int
	// CustomerRows: see CustomerRows.
	CustomerRows int
	// Trace, when set, is given each statement before it runs.
	Trace func(Statement)
}

// DefaultOptions are the thresholds List uses.
func DefaultOptions() Options {
	return Options{Selective: SelectiveMatches, WalkRows: WalkRows, Intersect: SelectiveMatches, Probe: ProbeOrders, Token: TokenRows,
		Customers: CandidateCustomers, CustomerWords: CustomerMatches, CustomerRows: CustomerRows}
}

// Plans of a search.
const (
	PlanDrive     = "drive"     // the ids of the orders with a token that starts with a rare word; those orders by key, the other words checked, sorted
	PlanWalk      = "walk"      // the list read in its order, each row checked, at most WalkRows rows
	PlanIntersect = "intersect" // the ids of the orders whose tokens match every word; then those orders by key, sorted
	PlanScan      = "scan"      // the list read in its order to the end, each row checked
	PlanHead      = "head"      // one common word: its orders newest (oldest) first from the token index of its head, filters checked on their rows
	PlanToken     = "token"     // a word whose matches are one token and at most Probe others: their orders newest (oldest) first from the tokens' index by date, the other words and filters checked on their rows
	PlanCustomers = "customers" // several common words: the few customers whose orders have every word (crm_customer_tokens), their orders in the list's order, each checked
)

// statement builds one parameterised statement.
type statement struct {
	where []string
	args  []any
}

func (st *statement) arg(v any) string {
	st.args = append(st.args, v)
	return "$" + strconv.Itoa(len(st.args))
}

// filters adds the query's filters (not its words) and its cursor.
func (st *statement) filters(q listquery.Query) {
	if q.Status != "" {
		st.where = append(st.where, "status = "+st.arg(q.Status))
	}
	if q.Channel != "" {
		st.where = append(st.where, "channel = "+st.arg(q.Channel))
	}
	switch q.Manager {
	case "":
	case listquery.Unassigned:
		st.where = append(st.where, "manager = ''")
	default:
		st.where = append(st.where, "manager = "+st.arg(q.Manager))
	}
	if q.CustomerID != "" {
		st.where = append(st.where, "customer_id = "+st.arg(q.CustomerID))
	}
	if q.CancelRequested {
		st.where = append(st.where, "cancel_requested = 1")
	}
	if !q.From.IsZero() {
		st.where = append(st.where, "placed_at >= "+st.arg(sqldb.Micros(q.From)))
	}
	if !q.To.IsZero() {
		st.where = append(st.where, "placed_at < "+st.arg(sqldb.Micros(q.To)))
	}
	if q.After != nil {
		col, cmp, _ := sortOrder(q)
		st.where = append(st.where, "("+col+", order_id) "+cmp+" ("+st.arg(q.After.Value)+", "+st.arg(q.After.ID)+")")
	}
}

// ListFacts are the columns of an order's list row that the list's filters
// and sort orders read.
type ListFacts struct {
	Status          string `json:"status"`
	Channel         string `json:"channel"`
	Manager         string `json:"manager,omitempty"`
	CustomerID      string `json:"customer_id"`
	PlacedAt        int64  `json:"placed_at"` // micros
	Total           int64  `json:"total"`
	CancelRequested bool   `json:"cancel_requested,omitempty"`
}

// Facts returns the row's facts.
func (r ListRow) Facts() ListFacts {
	return ListFacts{Status: r.Status, Channel: r.Channel, Manager: r.Manager, CustomerID: r.CustomerID,
		PlacedAt: sqldb.Micros(r.PlacedAt), Total: r.Total, CancelRequested: r.CancelRequested}
}

// Matches reports whether a row with these facts passes q's filters, as
// filters writes them (neither its words nor its cursor).
func (f ListFacts) Matches(q listquery.Query) bool {
	switch {
	case q.Status != "" && f.Status != q.Status,
		q.Channel != "" && f.Channel != q.Channel,
		q.Manager == listquery.Unassigned && f.Manager != "",
		q.Manager != "" && q.Manager != listquery.Unassigned && f.Manager != q.Manager,
		q.CustomerID != "" && f.CustomerID != q.CustomerID,
		q.CancelRequested && !f.CancelRequested,
		!q.From.IsZero() && f.PlacedAt < sqldb.Micros(q.From),
		!q.To.IsZero() && f.PlacedAt >= sqldb.Micros(q.To):
		return false
	}
	return true
}

// SortValue is the row's value in q's sort order (a cursor's Value).
func (f ListFacts) SortValue(q listquery.Query) int64 {
	if q.Sort == listquery.SortTotal {
		return f.Total
	}
	return f.PlacedAt
}

// tokenRange is the condition "col starts with w", col a token column of
// crm_order_tokens.
func (st *statement) tokenRange(col, w string) string {
	lo, hi := listquery.PrefixRange(w)
	c := col + " >= " + st.arg(lo)
	if hi != "" {
		c += " AND " + col + " < " + st.arg(hi)
	}
	return c
}

func (st *statement) whereSQL() string {
	if len(st.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(st.where, " AND ")
}

// sortOrder returns the sort column, the cursor's comparison and the direction.
func sortOrder(q listquery.Query) (col, cmp, dir string) {
	col = "placed_at"
	if q.Sort == listquery.SortTotal {
		col = "total"
	}
	if q.Dir == listquery.Asc {
		return col, ">", "ASC"
	}
	return col, "<", "DESC"
}

func orderBy(q listquery.Query) string {
	col, _, dir := sortOrder(q)
	return " ORDER BY " + col + " " + dir + ", order_id " + dir
}

// ListSQL builds the statement of a query without search words, or of a
// search read in the list's order with every word checked on the row
// (PlanScan): fixed fragments chosen by the validated query, every value a
// parameter.
func ListSQL(q listquery.Query) (string, []any) {
	var st statement
	st.filters(q)
	for _, w := range q.Words {
		// Checked on the row itself. The CASE hides the pattern from
		// PostgreSQL's estimate, which takes '% word%' for a rare match
		// and would sort the whole table rather than read its index
		// until a page is full.
		st.where = append(st.where, "CASE WHEN search LIKE "+st.arg(listquery.LikePattern(w))+" THEN 1 ELSE 0 END = 1")
	}
	return "SELECT " + listColumns + " FROM crm_order_list" + st.whereSQL() + orderBy(q) + " LIMIT " + st.arg(q.Limit+1), st.args
}

// WalkSQL builds the in-order plan of a search (PlanWalk): the first
// walkRows rows of the list in its order (filters and cursor applied, the
// words not), each checked for the words, up to a page and one.
func WalkSQL(q listquery.Query, walkRows int) (string, []any) {
	var st statement
	st.filters(q)
	inner := "SELECT " + listColumns + ", search FROM crm_order_list" + st.whereSQL() + orderBy(q) + " LIMIT " + st.arg(walkRows)
	var like []string
	for _, w := range q.Words {
		like = append(like, "search LIKE "+st.arg(listquery.LikePattern(w)))
	}
	return "SELECT " + listColumns + " FROM (" + inner + ") w WHERE " + strings.Join(like, " AND ") + orderBy(q) + " LIMIT " + st.arg(q.Limit+1), st.args
}

// HeadSQL builds the plan of a search for one word of at least
// listquery.HeadLength characters in date order (PlanHead): the tokens of
// the word's head in date order from their index (the cursor applied
// there), those that start with the word kept, each joined to its order's
// row for the filters; limit rows. An order with two tokens that start with
// the word comes twice, one after the other (see headPage). The CASE hides
// the word's range from the planner, so that it reads the head's index in
// order and stops at a page rather than read the word's range by the
// primary key and sort all of it.
func HeadSQL(q listquery.Query, limit int) (string, []any) {
	var st statement
	w := q.Words[0]
	lo, hi := listquery.PrefixRange(w)
	match := "t.token >= " + st.arg(lo)
	if hi != "" {
		match += " AND t.token < " + st.arg(hi)
	}
	where := []string{"t.head = " + st.arg(listquery.Head(w)), "CASE WHEN " + match + " THEN 1 ELSE 0 END = 1"}
	where, dir := st.tokenWindow(where, q, "t.")
	st.listFilters(q)
	st.where = append(where, st.where...)
	return "SELECT " + listColumnsOf("l") + " FROM crm_order_tokens t JOIN crm_order_list l ON l.order_id = t.order_id" + st.whereSQL() +
		" ORDER BY t.placed_at " + dir + ", t.order_id " + dir + " LIMIT " + st.arg(limit), st.args
}

// tokenWindow adds to where q's dates and cursor on the date and order id
// of crm_order_tokens (their columns prefixed by alias) and returns it with
// the sort direction: the plans that read the tokens in date order apply
// them in the index.
func (st *statement) tokenWindow(where []string, q listquery.Query, alias string) ([]string, string) {
	if !q.From.IsZero() {
		where = append(where, alias+"placed_at >= "+st.arg(sqldb.Micros(q.From)))
	}
	if !q.To.IsZero() {
		where = append(where, alias+"placed_at < "+st.arg(sqldb.Micros(q.To)))
	}
	_, op, dir := sortOrder(q)
	if q.After != nil {
		where = append(where, "("+alias+"placed_at, "+alias+"order_id) "+op+" ("+st.arg(q.After.Value)+", "+st.arg(q.After.ID)+")")
	}
	return where, dir
}

// listFilters adds q's filters on the list's own columns (its dates and
// cursor go on the tokens: tokenWindow).
func (st *statement) listFilters(q listquery.Query) {
	q.From, q.To, q.After = time.Time{}, time.Time{}, nil
	st.filters(q)
}

// TokenSQL builds PlanToken for a word whose matches are the token and a
// few tokens after it (up to hi; "" is no bound): the orders of the token
// in the query's date order from crm_order_tokens_token_date (token,
// placed_at, order_id) merged with the few others' (sorted), the cursor
// and the dates applied in the index, at most walk entries, each joined to
// its row for the filters and the words of check (checked on the row, as
// ByIDSQL does); limit rows. An order with two of the tokens comes twice,
// one after the other (a DISTINCT made PostgreSQL hash every entry of the
// token instead of merging them in order and stopping at a page).
func TokenSQL(q listquery.Query, token, hi string, check []string, walk, limit int) (string, []any) {
	var st statement
	main, dir := st.tokenWindow([]string{"token = " + st.arg(token)}, q, "")
	rest := []string{"token > " + st.arg(token)}
	if hi != "" {
		rest = append(rest, "token < "+st.arg(hi))
	}
	rest, _ = st.tokenWindow(rest, q, "")
	order := " ORDER BY placed_at " + dir + ", order_id " + dir
	lim := st.arg(walk)
	inner := "SELECT order_id, placed_at FROM (" +
		"SELECT order_id, placed_at FROM (SELECT order_id, placed_at FROM crm_order_tokens WHERE " + strings.Join(main, " AND ") + order + " LIMIT " + lim + ") a" +
		" UNION ALL SELECT order_id, placed_at FROM (SELECT order_id, placed_at FROM crm_order_tokens WHERE " + strings.Join(rest, " AND ") + order + " LIMIT " + lim + ") b" +
		") u" + order + " LIMIT " + lim
	st.listFilters(q)
	for _, w := range check {
		st.where = append(st.where, "CASE WHEN l.search LIKE "+st.arg(listquery.LikePattern(w))+" THEN 1 ELSE 0 END = 1")
	}
	return "SELECT " + listColumnsOf("l") + " FROM (" + inner + ") t JOIN crm_order_list l ON l.order_id = t.order_id" + st.whereSQL() +
		" ORDER BY t.placed_at " + dir + ", t.order_id " + dir + " LIMIT " + st.arg(limit), st.args
}

// listColumnsOf is listColumns qualified by a table alias.
func listColumnsOf(alias string) string {
	cols := strings.Split(listColumns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// IntersectSQL builds the first step of the plans that fetch orders by key
// (PlanDrive, PlanIntersect): the ids of the orders whose tokens match
// every word, at most limit and one rows, as semi-joins on the tokens
// (rather than INTERSECT, which costs twice as much on PostgreSQL). An order
// with two tokens that start with the first word comes twice: the caller
// keeps one (a DISTINCT made PostgreSQL build a hash table sized for its
// estimate on every execution).
func IntersectSQL(words []string, limit int) (string, []any) {
	return intersectSQL("crm_order_tokens", "order_id", words, limit)
}

// CustomersSQL builds the first step of PlanCustomers: the customers whose
// orders' tokens (crm_customer_tokens) match every word, at most limit and
// one rows (a customer may come twice, as in IntersectSQL).
func CustomersSQL(words []string, limit int) (string, []any) {
	return intersectSQL("crm_customer_tokens", "customer_id", words, limit)
}

// intersectSQL: the keys of table whose tokens match every word.
func intersectSQL(table, key string, words []string, limit int) (string, []any) {
	var st statement
	s := "SELECT t0." + key + " FROM " + table + " t0 WHERE " + st.tokenRange("t0.token", words[0])
	for i, w := range words[1:] {
		t := "t" + strconv.Itoa(i+1)
		s += " AND EXISTS (SELECT 1 FROM " + table + " " + t + " WHERE " + t + "." + key + " = t0." + key + " AND " +
			st.tokenRange(t+".token", w) + ")"
	}
	return s + " LIMIT " + st.arg(limit+1), st.args
}

// padNull returns the values padded with NULL (nil) to 4, 8, 16... of them.
func padNull(values []string) []any {
	n := 4
	for n < len(values) {
		n *= 2
	}
	out := make([]any, n)
	for i, v := range values {
		out[i] = v
	}
	return out
}

// CustomerWeightSQL builds the statement that sums the customers' orders
// as crm_customers counts them (PlanCustomers' choice: CustomerRows), the
// list padded as in CustomerOrdersSQL.
func CustomerWeightSQL(customers []string) (string, []any) {
	var st statement
	padded := padNull(customers)
	in := make([]string, len(padded))
	for i, c := range padded {
		in[i] = st.arg(c)
	}
	return "SELECT COALESCE(SUM(order_count), 0) FROM crm_customers WHERE id IN (" + strings.Join(in, ", ") + ")", st.args
}

// CustomerOrdersSQL builds the last step of PlanCustomers: the page among
// the orders of the given customers, each customer's read in the query's
// order from its index (crm_ol_customer_date or _total) with the filters,
// the cursor and every word checked on the row, up to a page and one, and
// merged (a UNION ALL that PostgreSQL runs as a Merge Append, SQLite as a
// MERGE). The customers are padded with NULL (no orders) to 4, 8, 16...:
// a few statements to prepare and plan, not one for every number.
func CustomerOrdersSQL(q listquery.Query, customers []string) (string, []any) {
	var st statement
	st.filters(q)
	for _, w := range q.Words {
		// "<> 0": PostgreSQL takes the check for one that keeps most
		// rows, and reads the customer's orders in order through the
		// index up to a page; "= 1" (a rare match to it) made it fetch
		// them all and sort them.
		st.where = append(st.where, "CASE WHEN search LIKE "+st.arg(listquery.LikePattern(w))+" THEN 1 ELSE 0 END <> 0")
	}
	lim := st.arg(q.Limit + 1)
	where, order := strings.Join(st.where, " AND "), orderBy(q)
	if where != "" {
		where = " AND " + where
	}
	padded := padNull(customers)
	parts := make([]string, len(padded))
	for i, c := range padded {
		parts[i] = "SELECT " + listColumns + " FROM (SELECT " + listColumns + " FROM crm_order_list WHERE customer_id = " + st.arg(c) + where +
			order + " LIMIT " + lim + ") c" + strconv.Itoa(i)
	}
	return strings.Join(parts, " UNION ALL ") + order + " LIMIT " + lim, st.args
}

// list adds the values as parameters and returns their list ("NULL" when
// there are none, which matches nothing).
func (st *statement) list(values []string) string {
	if len(values) == 0 {
		return "NULL"
	}
	in := make([]string, len(values))
	for i, v := range values {
		in[i] = st.arg(v)
	}
	return strings.Join(in, ", ")
}

// ByIDSQL builds the last step of PlanDrive and PlanIntersect: the page
// among the given orders (filters and cursor applied, the words of check
// checked on the row), fetched by key and sorted. The ids are values in the
// statement and the sort is on an expression, so that no plan, the generic
// one included, takes the few orders for many and reads the list in its
// order through an index to find them.
func ByIDSQL(q listquery.Query, ids, check []string) (string, []any) {
	var st statement
	st.filters(q)
	for _, w := range check {
		st.where = append(st.where, "CASE WHEN search LIKE "+st.arg(listquery.LikePattern(w))+" THEN 1 ELSE 0 END = 1")
	}
	st.where = append(st.where, "order_id IN ("+st.list(ids)+")")
	col, _, dir := sortOrder(q)
	return "SELECT " + listColumns + " FROM crm_order_list" + st.whereSQL() + " ORDER BY " + col + " + 0 " + dir + ", order_id " + dir +
		" LIMIT " + st.arg(q.Limit+1), st.args
}

// List returns a page of the orders list and the cursor of the next page
// ("" on the last page).
func (s *Store) List(ctx context.Context, db sqldb.Querier, q listquery.Query) ([]ListRow, string, error) {
	rows, _, err := s.ListWith(ctx, db, q, DefaultOptions())
	if err != nil {
		return nil, "", err
	}
	return page(q, rows)
}

// ListWith returns up to a page and one row of q with the given options
// and the plans it ran, in order.
func (s *Store) ListWith(ctx context.Context, db sqldb.Querier, q listquery.Query, opt Options) ([]ListRow, []string, error) {
	r := runner{db: db, trace: opt.Trace, words: s.words, customers: s.customers}
	if len(q.Words) == 0 {
		query, args := ListSQL(q)
		rows, err := r.list(ctx, "list", query, args)
		return rows, nil, err
	}
	ws, err := r.rarestFirst(ctx, q.Words, opt.Selective, opt.Probe)
	if err != nil {
		return nil, nil, err
	}
	var ran []string
	if ws.ids == nil && len(q.Words) > 1 && opt.Customers > 0 {
		// Words each common: the few customers whose orders have them
		// all, when they are few, and their orders in order.
		rows, found, err := r.byCustomers(ctx, q, opt)
		if err != nil || found == customersRead {
			return rows, []string{PlanCustomers}, err
		}
		if found == customersHeavy {
			// Few customers, but many orders of theirs to read: the
			// words' orders intersected (the in-order reads would
			// examine thousands of orders first).
			rows, plans, err := r.byPlans(ctx, q, ws, opt, true)
			return rows, append([]string{PlanCustomers}, plans...), err
		}
		ran = append(ran, PlanCustomers)
	}
	if d, ok := ws.driver(q, opt); ok {
		// One token's orders in date order from its index (with the
		// word's few other tokens'), the other words checked on their
		// rows: a page after a page's entries when the other words are
		// common among them (an e-mail's customer, a company's name or
		// number). Complete when every entry of the word was examined.
		var check []string
		for _, w := range ws.words {
			if w != d {
				check = append(check, w)
			}
		}
		// An order with two of the word's tokens comes twice: at most
		// as many rows more than the word's other tokens have matches.
		_, hi := listquery.PrefixRange(d)
		c := ws.counts[d]
		limit := q.Limit + 1 + int(c.others)
		query, args := TokenSQL(q, c.least.String, hi, check, opt.Token, limit)
		rows, err := r.list(ctx, PlanToken, query, args)
		if err != nil {
			return nil, append(ran, PlanToken), err
		}
		full := len(rows) == limit
		rows = slices.CompactFunc(rows, func(a, b ListRow) bool { return a.OrderID == b.OrderID })
		ran = append(ran, PlanToken)
		if len(rows) > q.Limit {
			return rows[:q.Limit+1], ran, nil
		}
		if c, ok := ws.counts[d]; !full && ok && c.cached {
			// Whether every entry was read depends on the count: a
			// fresh one.
			fresh, err := r.counts(ctx, []string{d}, opt.Selective, opt.Probe, false)
			if err != nil {
				return nil, ran, err
			}
			ws.counts[d] = fresh[d]
		}
		if n := ws.counts[d].count; !full && n < int64(opt.Selective) && n <= int64(opt.Token) {
			return rows, ran, nil
		}
	}
	rows, plans, err := r.byPlans(ctx, q, ws, opt, slices.Contains(ran, PlanToken))
	return rows, append(ran, plans...), err
}

// byPlans runs the plans other than PlanToken; afterToken: PlanToken read
// a word's entries without finding a page.
func (r runner) byPlans(ctx context.Context, q listquery.Query, ws wordStats, opt Options, afterToken bool) ([]ListRow, []string, error) {
	words := ws.words
	if ws.rare {
		// The few orders that match the rarest word, from its range of
		// the token index; then those orders by key, the other words
		// checked on their rows (or, when the orders are many, first
		// intersected with the other words' matches).
		rows, err := r.drive(ctx, q, words, ws.ids, opt)
		if !errors.Is(err, errMany) {
			return rows, []string{PlanDrive}, err
		}
	}
	if len(q.Words) == 1 && q.Sort == listquery.SortDate && utf8.RuneCountInString(q.Words[0]) >= listquery.HeadLength {
		// One common word in date order: its orders come in that order
		// from the index of its head.
		rows, err := r.headPage(ctx, q)
		return rows, []string{PlanHead}, err
	}
	if len(q.Words) == 1 {
		// One common word: a page comes soon in order, and the in-order
		// read stops there.
		query, args := ListSQL(q)
		rows, err := r.list(ctx, PlanScan, query, args)
		return rows, []string{PlanScan}, err
	}
	var ran []string
	if !afterToken {
		// (Not after PlanToken: every match has the word it read, whose
		// entries go back further in date than the list's first rows,
		// unless a filter keeps few of those.)
		query, args := WalkSQL(q, opt.WalkRows)
		rows, err := r.list(ctx, PlanWalk, query, args)
		if err != nil || len(rows) > q.Limit {
			return rows, []string{PlanWalk}, err
		}
		ran = append(ran, PlanWalk)
	}
	// No page in the rows read: the list ended, or the words are each
	// common but rare together ("acme industries"). The orders that match
	// them all, when they are few, are fetched by key.
	ran = append(ran, PlanIntersect)
	rows, err := r.byTokens(ctx, PlanIntersect, q, words, opt.Intersect)
	if !errors.Is(err, errMany) {
		return rows, ran, err
	}
	// Many orders match, further on: read on in order to the end.
	query, args := ListSQL(q)
	rows, err = r.list(ctx, PlanScan, query, args)
	return rows, append(ran, PlanScan), err
}

// headPage runs PlanHead: up to a page and one orders, each once. The rows
// of an order with several matching tokens are adjacent (the same date and
// id); when they leave less than a page and one, the read goes on after the
// last order.
func (r runner) headPage(ctx context.Context, q listquery.Query) ([]ListRow, error) {
	var out []ListRow
	batch := 2 * (q.Limit + 1)
	for {
		query, args := HeadSQL(q, batch)
		rows, err := r.list(ctx, PlanHead, query, args)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			if len(out) == 0 || out[len(out)-1].OrderID != row.OrderID {
				out = append(out, row)
			}
		}
		if len(out) > q.Limit {
			return out[:q.Limit+1], nil
		}
		if len(rows) < batch {
			return out, nil
		}
		last := rows[len(rows)-1]
		q.After = &listquery.Cursor{Value: sqldb.Micros(last.PlacedAt), ID: last.OrderID}
	}
}

// What PlanCustomers found.
const (
	customersMany  = iota // more customers than Options.Customers, or no word narrows them
	customersHeavy        // few customers with more than Options.CustomerRows orders
	customersRead         // the page among their orders
)

// byCustomers runs PlanCustomers: the customers whose orders' tokens match
// every word that few customers' do (a word in more than CustomerWords
// customers' tokens narrows nothing and is only checked on the rows); when
// there are at most Customers of them with at most CustomerRows orders,
// the page among their orders. Complete whatever the counts say: every
// order's tokens are its customer's, so its customer is among those found.
func (r runner) byCustomers(ctx context.Context, q listquery.Query, opt Options) ([]ListRow, int, error) {
	counts, err := r.customerCounts(ctx, q.Words, opt.CustomerWords)
	if err != nil {
		return nil, customersMany, err
	}
	var narrow []string
	for _, w := range q.Words {
		if counts[w] < int64(opt.CustomerWords) {
			narrow = append(narrow, w)
		}
	}
	if len(narrow) == 0 {
		return nil, customersMany, nil
	}
	// The fewest first: its range is read, the others' hashed (or probed).
	slices.SortStableFunc(narrow, func(a, b string) int { return cmp.Compare(counts[a], counts[b]) })
	ids, n, err := r.candidates(ctx, narrow, opt.Customers)
	if err != nil || n > opt.Customers {
		return nil, customersMany, err
	}
	if len(ids) == 0 {
		return nil, customersRead, nil
	}
	query, args := CustomerWeightSQL(ids)
	r.show(PlanCustomers+", weight", query, args)
	var weight int64
	if err := r.db.QueryRowContext(ctx, query, args...).Scan(&weight); err != nil {
		return nil, customersMany, fmt.Errorf("search customers' orders: %w", err)
	}
	if weight > int64(opt.CustomerRows) {
		return nil, customersHeavy, nil
	}
	query, args = CustomerOrdersSQL(q, ids)
	rows, err := r.list(ctx, PlanCustomers+", orders", query, args)
	return rows, customersRead, err
}

// candidates returns the customers whose tokens match every word, at most
// limit and one (n: how many were read), kept in r.customers.
func (r runner) candidates(ctx context.Context, words []string, limit int) (ids []string, n int, err error) {
	now := time.Now()
	if set, ok := r.customers.get(words, limit, now); ok {
		return set.ids, set.n, nil
	}
	gen := r.customers.generation()
	query, args := CustomersSQL(words, limit)
	if ids, n, err = r.ids(ctx, PlanCustomers, query, args); err != nil {
		return nil, 0, err
	}
	r.customers.put(limit, gen, customerSet{words: words, ids: ids, n: n, at: now})
	return ids, n, nil
}

// customerCounts counts each word's matches among the customers' tokens,
// up to limit (kept as the words' counts are: they only choose the words
// that narrow PlanCustomers).
func (r runner) customerCounts(ctx context.Context, words []string, limit int) (map[string]int64, error) {
	out := make(map[string]int64, len(words))
	now := time.Now()
	var todo []string
	for _, w := range words {
		if c, ok := r.words.get("customers/"+wordKey(w, limit, 0), now); ok {
			out[w] = c.count
		} else {
			todo = append(todo, w)
		}
	}
	if len(todo) == 0 {
		return out, nil
	}
	query, args := CustomerCountSQL(todo, limit)
	r.show("count customers", query, args)
	got := make([]int64, len(todo))
	dest := make([]any, len(todo))
	for i := range got {
		dest[i] = &got[i]
	}
	if err := r.db.QueryRowContext(ctx, query, args...).Scan(dest...); err != nil {
		return nil, fmt.Errorf("count search matches by customer: %w", err)
	}
	for i, w := range todo {
		out[w] = got[i]
		r.words.put("customers/"+wordKey(w, limit, 0), wordCount{count: got[i], at: now})
	}
	return out, nil
}

// CustomerCountSQL builds the statement that counts each word's matches
// among the customers' tokens, up to limit.
func CustomerCountSQL(words []string, limit int) (string, []any) {
	var st statement
	cols := make([]string, len(words))
	for i, w := range words {
		cols[i] = "(SELECT COUNT(*) FROM (SELECT 1 FROM crm_customer_tokens WHERE " + st.tokenRange("token", w) + " LIMIT " + st.arg(limit) + ") m)"
	}
	return "SELECT " + strings.Join(cols, ", "), st.args
}

// errMany: more orders match the words than the plan fetches by key.
var errMany = errors.New("too many matches to fetch by key")

// drive runs PlanDrive: the orders of words[0] (ids, when already read),
// those with the other words, by key.
func (r runner) drive(ctx context.Context, q listquery.Query, words, ids []string, opt Options) ([]ListRow, error) {
	var err error
	if ids == nil {
		query, args := IntersectSQL(words[:1], opt.Selective)
		var n int
		if ids, n, err = r.ids(ctx, PlanDrive, query, args); err != nil {
			return nil, err
		}
		if n > opt.Selective {
			return nil, errMany // more than counted (a count from the cache)
		}
	}
	check := words[1:]
	if len(check) > 0 && len(ids) > opt.Probe {
		// Too many to check one by one: the words' matches intersected.
		query, args := IntersectSQL(words, opt.Selective)
		if ids, _, err = r.ids(ctx, PlanDrive+", intersect", query, args); err != nil {
			return nil, err
		}
		check = nil
	}
	query, args := ByIDSQL(q, ids, check)
	return r.list(ctx, PlanDrive+", by id", query, args)
}

// byTokens returns the page of q among the orders whose tokens match every
// word, fetched by key; errMany when more than limit orders match.
func (r runner) byTokens(ctx context.Context, plan string, q listquery.Query, words []string, limit int) ([]ListRow, error) {
	query, args := IntersectSQL(words, limit)
	ids, _, err := r.ids(ctx, plan, query, args)
	if err != nil {
		return nil, err
	}
	if len(ids) > limit {
		return nil, errMany
	}
	query, args = ByIDSQL(q, ids, nil)
	return r.list(ctx, plan+", by id", query, args)
}

// runner runs a list's statements, showing each to the trace.
type runner struct {
	db        sqldb.Querier
	trace     func(Statement)
	words     *wordCounts   // nil: none kept
	customers *customerSets // nil: none kept
}

func (r runner) show(plan, query string, args []any) {
	if r.trace != nil {
		r.trace(Statement{Plan: plan, SQL: query, Args: args})
	}
}

func (r runner) query(ctx context.Context, plan, query string, args []any) (*sql.Rows, error) {
	r.show(plan, query, args)
	return r.db.QueryContext(ctx, query, args...)
}

func (r runner) list(ctx context.Context, plan, query string, args []any) ([]ListRow, error) {
	rows, err := r.query(ctx, plan, query, args)
	if err != nil {
		return nil, fmt.Errorf("list orders (%s): %w", plan, err)
	}
	return scanList(rows)
}

// ids returns the distinct ids of the query's rows and how many rows it
// gave (an order with two matching tokens comes twice).
func (r runner) ids(ctx context.Context, plan, query string, args []any) ([]string, int, error) {
	rows, err := r.query(ctx, plan, query, args)
	if err != nil {
		return nil, 0, fmt.Errorf("search matches: %w", err)
	}
	defer rows.Close()
	var ids []string
	n := 0
	seen := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, 0, fmt.Errorf("search matches: %w", err)
		}
		n++
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, n, rows.Err()
}

// wordStats are what rarestFirst learned of a search's words.
type wordStats struct {
	words  []string // in the order to read their matches, the rarest first
	rare   bool     // the first has fewer matching tokens than the limit
	ids    []string // the first's orders, when it was read whole at once
	counts map[string]wordCount
	probe  int
}

// token: whether PlanToken can read the word (at most probe of its matches
// are not of its least token).
func (ws wordStats) token(w string) bool {
	c, ok := ws.counts[w]
	return ok && c.least.Valid && c.others <= int64(ws.probe)
}

// driver returns the word whose token PlanToken reads: in date order, the
// rarest word when it is rare and has a token, else the word with a token
// and the fewest matches when none is rare.
func (ws wordStats) driver(q listquery.Query, opt Options) (string, bool) {
	if opt.Token <= 0 || q.Sort != listquery.SortDate || ws.counts == nil {
		return "", false
	}
	for _, w := range ws.words {
		if ws.token(w) {
			return w, true
		}
		if ws.rare {
			return "", false
		}
	}
	return "", false
}

// rarestFirst returns the words in the order to read their matches, the
// rarest first, whether that one is rare (fewer than limit matching
// tokens) and, when it was read first, the ids of its orders. Words are
// tried longest first (the likeliest to be rare: an order number, an
// e-mail): the first by reading the ids of its first limit/30 matches (an
// order number's or an e-mail's are all there); when it has more, every
// word is counted (counts): its matches up to the limit, its least token,
// the matches of its other tokens up to probe and one. Words with as many
// matches keep the order of their length.
func (r runner) rarestFirst(ctx context.Context, words []string, limit, probe int) (wordStats, error) {
	byLength := slices.Clone(words)
	slices.SortStableFunc(byLength, func(a, b string) int { return len(b) - len(a) })
	ws := wordStats{words: byLength, probe: probe}
	few := limit / 30
	if c, ok := r.words.get(wordKey(byLength[0], limit, probe), time.Now()); !ok || c.count < int64(few) {
		query, args := IntersectSQL(byLength[:1], few)
		got, _, err := r.ids(ctx, "ids", query, args)
		if err != nil {
			return ws, err
		}
		if len(got) < few {
			ws.rare, ws.ids = true, got
			return ws, nil
		}
	}
	var err error
	if ws.counts, err = r.counts(ctx, byLength, limit, probe, true); err != nil {
		return ws, err
	}
	slices.SortStableFunc(ws.words, func(a, b string) int { return cmp.Compare(ws.counts[a].count, ws.counts[b].count) })
	ws.rare = ws.counts[ws.words[0]].count < int64(limit)
	return ws, nil
}

// wordCount is what a count statement (CountSQL) found of a word.
type wordCount struct {
	count  int64          // matching tokens, at most the limit
	least  sql.NullString // the least matching token
	others int64          // matches of the other tokens, at most probe and one
	at     time.Time
	cached bool // from the cache
}

// wordCounts keeps the words' counts for WordCountTTL: a manager paging
// through a search, and the next searches of the same words, count them
// once (counting three common words read 9,000 index entries, more than
// the page). A count only chooses the plan (every plan gives the same
// pages); where a plan's completeness depends on it, it is counted again.
type wordCounts struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, wordCount]
}

// WordCountTTL is how long a word's count is kept.
const WordCountTTL = 5 * time.Second

func newWordCounts(size int) *wordCounts {
	lru, _ := simplelru.NewLRU[string, wordCount](size, nil) // fails only for size < 1
	return &wordCounts{lru: lru}
}

func wordKey(w string, limit, probe int) string {
	return strconv.Itoa(limit) + "/" + strconv.Itoa(probe) + "/" + w
}

func (c *wordCounts) get(key string, now time.Time) (wordCount, bool) {
	if c == nil {
		return wordCount{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	wc, ok := c.lru.Get(key)
	if !ok || now.Sub(wc.at) >= WordCountTTL {
		return wordCount{}, false
	}
	wc.cached = true
	return wc, true
}

func (c *wordCounts) put(key string, wc wordCount) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Add(key, wc)
}

// counts counts the words (one statement for those not in the cache, or
// for all when fromCache is false) and keeps the counts.
func (r runner) counts(ctx context.Context, words []string, limit, probe int, fromCache bool) (map[string]wordCount, error) {
	out := make(map[string]wordCount, len(words))
	now := time.Now()
	var todo []string
	for _, w := range words {
		if c, ok := r.words.get(wordKey(w, limit, probe), now); ok && fromCache {
			out[w] = c
		} else {
			todo = append(todo, w)
		}
	}
	if len(todo) == 0 {
		return out, nil
	}
	query, args := CountSQL(todo, limit, probe)
	r.show("count", query, args)
	got := make([]wordCount, len(todo))
	dest := make([]any, 0, 3*len(todo))
	for i := range got {
		dest = append(dest, &got[i].count, &got[i].least, &got[i].others)
	}
	if err := r.db.QueryRowContext(ctx, query, args...).Scan(dest...); err != nil {
		return nil, fmt.Errorf("count search matches: %w", err)
	}
	for i, w := range todo {
		got[i].at = now
		out[w] = got[i]
		r.words.put(wordKey(w, limit, probe), got[i])
	}
	return out, nil
}

// CountSQL builds the statement that, for each word, counts its matching
// tokens (at most limit), reads the least of them and counts the matches
// of the others (at most probe and one).
func CountSQL(words []string, limit, probe int) (string, []any) {
	var st statement
	cols := make([]string, 0, 3*len(words))
	for _, w := range words {
		least := "(SELECT MIN(token) FROM crm_order_tokens WHERE " + st.tokenRange("token", w) + ")"
		_, hi := listquery.PrefixRange(w)
		others := "token > " + least
		if hi != "" {
			others += " AND token < " + st.arg(hi)
		}
		cols = append(cols, "(SELECT COUNT(*) FROM (SELECT 1 FROM crm_order_tokens WHERE "+st.tokenRange("token", w)+" LIMIT "+st.arg(limit)+") m)",
			least, "(SELECT COUNT(*) FROM (SELECT 1 FROM crm_order_tokens WHERE "+others+" LIMIT "+st.arg(probe+1)+") m)")
	}
	return "SELECT " + strings.Join(cols, ", "), st.args
}

// page cuts rows to the query's page and makes the next page's cursor.
func page(q listquery.Query, rows []ListRow) ([]ListRow, string, error) {
	if len(rows) <= q.Limit {
		return rows, "", nil
	}
	rows = rows[:q.Limit]
	last := rows[len(rows)-1]
	c := listquery.Cursor{ID: last.OrderID, Value: sqldb.Micros(last.PlacedAt)}
	if q.Sort == listquery.SortTotal {
		c.Value = last.Total
	}
	return rows, q.EncodeCursor(c), nil
}

// Statement is one SQL statement with its arguments.
type Statement struct {
	Plan string
	SQL  string
	Args []any
}

// Plan runs q as List does and returns the statements it ran, for
// EXPLAIN.
func (s *Store) Plan(ctx context.Context, db sqldb.Querier, q listquery.Query) ([]Statement, error) {
	opt := DefaultOptions()
	var out []Statement
	opt.Trace = func(st Statement) { out = append(out, st) }
	_, _, err := s.ListWith(ctx, db, q, opt)
	return out, err
}

// Stuck returns orders that have stayed in a status longer than its
// threshold, oldest first.
func (s *Store) Stuck(ctx context.Context, db sqldb.Querier, thresholds map[string]time.Duration, now time.Time, limit int) ([]ListRow, error) {
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

// CountStuck counts, per status of thresholds, the orders that have stayed
// in it longer than its threshold (an index range count each).
func (s *Store) CountStuck(ctx context.Context, db sqldb.Querier, thresholds map[string]time.Duration, now time.Time) (map[string]int64, error) {
	out := make(map[string]int64, len(thresholds))
	for status, d := range thresholds {
		var n int64
		err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM crm_order_list WHERE status = $1 AND status_since < $2`,
			status, sqldb.Micros(now.Add(-d))).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("count stuck %s orders: %w", status, err)
		}
		out[status] = n
	}
	return out, nil
}
