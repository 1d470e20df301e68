// Package listquery parses and validates the orders page's query (filters,
// search, sort, page size and cursor) and encodes its opaque keyset cursor.
// It also owns the search normalisation shared by the read model and the
// query: lower-cased alphanumeric word tokens matched by prefix. Standard
// library only.
package listquery

import (
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fabrika/fabrika/contracts"
)

// Sort keys and directions.
const (
	SortDate  = "date"
	SortTotal = "total"
	Asc       = "asc"
	Desc      = "desc"
)

// Limits.
const (
	DefaultLimit  = 50
	MaxLimit      = 200
	MaxSearch     = 200
	MaxWords      = 4
	MaxWordLength = 64
	maxCursor     = 512
	maxID         = 128
)

// Unassigned is the manager filter's value for the orders nobody is
// assigned to (no login starts with "-").
const Unassigned = "-"

// Error is a bad query parameter; the web layer answers 400 with it.
type Error struct{ Field, Message string }

func (e *Error) Error() string { return e.Field + ": " + e.Message }

func bad(field, format string, args ...any) error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Query is a validated orders page query.
type Query struct {
	Status     string
	Channel    string
	From, To   time.Time // placed_at >= From and < To (To is the day after the "to" date)
	FromDay    string    // as typed, YYYY-MM-DD
	ToDay      string
	Manager    string // a login, or Unassigned
	CustomerID string
	// CancelRequested keeps the orders whose customer asked to cancel
	// (and that are neither cancelled nor shipped): cancel=requested.
	CancelRequested bool
	Search          string   // as typed, trimmed
	Words           []string // normalised search words, each matched as a token prefix
	Sort            string
	Dir             string
	Limit           int
	After           *Cursor
}

// Cursor is the position after the last row of a page.
type Cursor struct {
	Value int64  // placed_at micros or total, by the query's sort
	ID    string // order id, the tie breaker
}

// Parse reads a query from URL values. Empty values mean "not set".
func Parse(v url.Values) (Query, error) {
	q := Query{Sort: SortDate, Dir: Desc, Limit: DefaultLimit}
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	if s := get("status"); s != "" {
		if _, ok := contracts.StatusRank(s); !ok {
			return q, bad("status", "unknown status %q; use one of %s", clip(s), strings.Join(contracts.Statuses(), ", "))
		}
		q.Status = s
	}
	if c := get("channel"); c != "" {
		if c != contracts.ChannelShop && c != contracts.ChannelAPI {
			return q, bad("channel", "unknown channel %q; use shop or api", clip(c))
		}
		q.Channel = c
	}
	var err error
	if d := get("from"); d != "" {
		if q.From, err = day("from", d); err != nil {
			return q, err
		}
		q.FromDay = d
	}
	if d := get("to"); d != "" {
		t, err := day("to", d)
		if err != nil {
			return q, err
		}
		q.To, q.ToDay = t.AddDate(0, 0, 1), d
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, bad("to", "the end date %s is before the start date %s", q.ToDay, q.FromDay)
	}
	if q.Manager, err = text("manager", get("manager"), 100); err != nil {
		return q, err
	}
	if q.CustomerID, err = text("customer", get("customer"), maxID); err != nil {
		return q, err
	}
	switch c := get("cancel"); c {
	case "":
	case "requested":
		q.CancelRequested = true
	default:
		return q, bad("cancel", "unknown cancel filter %q; use requested", clip(c))
	}
	if q.Search, err = text("q", get("q"), MaxSearch); err != nil {
		return q, err
	}
	if q.Search != "" {
		q.Words = Words(q.Search)
		if len(q.Words) == 0 {
			return q, bad("q", "the search has no letters or digits")
		}
		if len(q.Words) > MaxWords {
			return q, bad("q", "use at most %d words in a search", MaxWords)
		}
		for _, w := range q.Words {
			if len(w) > MaxWordLength {
				return q, bad("q", "a search word is longer than %d characters", MaxWordLength)
			}
		}
	}
	switch s := get("sort"); s {
	case "", SortDate:
	case SortTotal:
		q.Sort = SortTotal
	default:
		return q, bad("sort", "unknown sort %q; use date or total", clip(s))
	}
	switch d := get("dir"); d {
	case "", Desc:
	case Asc:
		q.Dir = Asc
	default:
		return q, bad("dir", "unknown direction %q; use asc or desc", clip(d))
	}
	if l := get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxLimit {
			return q, bad("limit", "must be a whole number from 1 to %d", MaxLimit)
		}
		q.Limit = n
	}
	if c := get("cursor"); c != "" {
		cur, err := q.DecodeCursor(c)
		if err != nil {
			return q, err
		}
		q.After = &cur
	}
	return q, nil
}

func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

func day(field, s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, bad(field, "must be a date like 2026-01-31")
	}
	if t.Year() < 2000 || t.Year() > 2200 {
		return time.Time{}, bad(field, "must be a date between 2000 and 2200")
	}
	return t, nil
}

func text(field, s string, max int) (string, error) {
	if !utf8.ValidString(s) {
		return "", bad(field, "must be valid UTF-8")
	}
	if utf8.RuneCountInString(s) > max {
		return "", bad(field, "is longer than %d characters", max)
	}
	return s, nil
}

// Key is the canonical form of the query, the cache key of its page.
func (q Query) Key() string {
	k := q.filterKey()
	if q.After != nil {
		k += "|after=" + strconv.FormatInt(q.After.Value, 10) + "," + q.After.ID
	}
	return k
}

// filterKey is the query without its cursor.
func (q Query) filterKey() string {
	return strings.Join([]string{"st=" + q.Status, "ch=" + q.Channel, "from=" + q.FromDay, "to=" + q.ToDay,
		"m=" + q.Manager, "c=" + q.CustomerID, "cr=" + strconv.FormatBool(q.CancelRequested), "q=" + strings.Join(q.Words, " "), "sort=" + q.Sort, "dir=" + q.Dir,
		"limit=" + strconv.Itoa(q.Limit)}, "|")
}

func (q Query) fingerprint() uint32 {
	h := fnv.New32a()
	h.Write([]byte(q.filterKey()))
	return h.Sum32()
}

// Values is the query as URL values (without the cursor), for links.
func (q Query) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("status", q.Status)
	set("channel", q.Channel)
	set("from", q.FromDay)
	set("to", q.ToDay)
	set("manager", q.Manager)
	set("customer", q.CustomerID)
	if q.CancelRequested {
		set("cancel", "requested")
	}
	set("q", q.Search)
	if q.Sort != SortDate {
		set("sort", q.Sort)
	}
	if q.Dir != Desc {
		set("dir", q.Dir)
	}
	if q.Limit != DefaultLimit {
		set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

const cursorVersion = "c1"

// EncodeCursor makes the opaque cursor of a position in this query's order.
// It is bound to the query's filters, sort and page size.
func (q Query) EncodeCursor(c Cursor) string {
	raw := fmt.Sprintf("%s.%s.%s.%d.%08x.%s", cursorVersion, q.Sort, q.Dir, c.Value, q.fingerprint(), c.ID)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ErrCursor is the message of a cursor that cannot be used.
var ErrCursor = errors.New("the cursor is malformed or belongs to another query; start again from the first page")

// DecodeCursor validates a cursor against this query.
func (q Query) DecodeCursor(s string) (Cursor, error) {
	fail := func() (Cursor, error) { return Cursor{}, &Error{Field: "cursor", Message: ErrCursor.Error()} }
	if len(s) > maxCursor {
		return fail()
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return fail()
	}
	parts := strings.SplitN(string(b), ".", 6)
	if len(parts) != 6 || parts[0] != cursorVersion || parts[1] != q.Sort || parts[2] != q.Dir {
		return fail()
	}
	v, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || v < 0 || strconv.FormatInt(v, 10) != parts[3] {
		return fail()
	}
	if parts[4] != fmt.Sprintf("%08x", q.fingerprint()) {
		return fail()
	}
	id := parts[5]
	if id == "" || len(id) > maxID || strings.IndexFunc(id, func(r rune) bool {
		return !(r == '-' || r == '_' || r == ':' || (r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))))
	}) >= 0 {
		return fail()
	}
	return Cursor{Value: v, ID: id}, nil
}

// Words splits text into lower-cased words of letters and digits; every
// other character separates words.
func Words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// Tokens are the search tokens of an order: the words of its number, its
// customer's name, e-mail and company, and the number with its separators
// removed (so "FAB-2026-0042" is found as "fab2026" too). Sorted, unique.
func Tokens(number, name, email, company string) []string {
	var out []string
	nw := Words(number)
	out = append(out, nw...)
	if len(nw) > 1 {
		out = append(out, strings.Join(nw, ""))
	}
	for _, s := range []string{name, email, company} {
		out = append(out, Words(s)...)
	}
	for i, t := range out {
		if len(t) > MaxWordLength {
			out[i] = t[:MaxWordLength]
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// MatchesAll tells whether an order with these tokens matches every search
// word: each word is a prefix of one of its tokens, as the search reads them.
func MatchesAll(words, tokens []string) bool {
	for _, w := range words {
		if !slices.ContainsFunc(tokens, func(t string) bool { return strings.HasPrefix(t, w) }) {
			return false
		}
	}
	return true
}

// SearchText is the read model's search column: the tokens separated and
// surrounded by spaces, so that "word starts with w" is LIKE '% w%'.
func SearchText(number, name, email, company string) string {
	return " " + strings.Join(Tokens(number, name, email, company), " ") + " "
}

// LikePattern is the LIKE pattern of a search word over SearchText. Words
// hold only letters and digits, so nothing needs escaping.
func LikePattern(word string) string { return "% " + word + "%" }

// PrefixRange returns the bounds [lo, hi) of the strings that start with
// prefix in code point order (byte order of UTF-8, the order of SQLite and of
// PostgreSQL's C collations); hi is "" when there is no upper bound.
func PrefixRange(prefix string) (lo, hi string) {
	r := []rune(prefix)
	for i := len(r) - 1; i >= 0; i-- {
		next := r[i] + 1
		if next >= 0xD800 && next <= 0xDFFF {
			next = 0xE000
		}
		if next <= unicode.MaxRune {
			r[i] = next
			return prefix, string(r[:i+1])
		}
	}
	return prefix, ""
}

// HeadLength is the length in characters of a token's head.
const HeadLength = 3

// Head is the first HeadLength characters of a token (all of a shorter
// one): the read model keeps the tokens of each head in date order, so the
// orders with a token that starts with a word of at least HeadLength
// characters are read newest first among those of its head.
func Head(token string) string {
	n := 0
	for i := range token {
		if n == HeadLength {
			return token[:i]
		}
		n++
	}
	return token
}
