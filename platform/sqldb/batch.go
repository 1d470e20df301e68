package sqldb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Batch is a group of writes (INSERT, UPDATE or DELETE statements without
// RETURNING) that a caller makes together and that do not read each other's
// effects: on PostgreSQL they go to the server as one statement, each write
// a data-modifying WITH query, so the group costs one round trip where it
// cost one per write; on SQLite, in process, they run one after another in
// the order they were added (foreign keys see the earlier ones).
//
// On PostgreSQL every write of the group sees the database as it was when
// the statement started, so a write must not depend on another's rows (an
// UPDATE of a row inserted in the same batch finds nothing), and no two
// writes may change the same row. The writes are atomic together on
// PostgreSQL; on SQLite only inside a transaction, so run a batch in one
// when it matters.
type Batch struct {
	writes []batchWrite
}

type batchWrite struct {
	query string
	args  []any
}

// Add queues a write whose placeholders are numbered from $1, as if it ran
// alone. It returns the write's index in Exec's counts.
func (b *Batch) Add(query string, args ...any) int {
	b.writes = append(b.writes, batchWrite{query: query, args: args})
	return len(b.writes) - 1
}

// Len is the number of writes queued.
func (b *Batch) Len() int { return len(b.writes) }

// Exec runs the queued writes on q and returns the number of rows each one
// affected, by index; the batch is empty afterwards. q is a DB or a Tx: a
// Querier that does not tell its engine runs them one after another.
func (b *Batch) Exec(ctx context.Context, q Querier) ([]int64, error) {
	writes := b.writes
	b.writes = nil
	counts := make([]int64, len(writes))
	switch {
	case len(writes) == 0:
		return counts, nil
	case len(writes) == 1 || !onPostgres(q):
		for i, w := range writes {
			res, err := q.ExecContext(ctx, w.query, w.args...)
			if err != nil {
				return nil, fmt.Errorf("write %d of %d: %w", i+1, len(writes), err)
			}
			if counts[i], err = res.RowsAffected(); err != nil {
				return nil, fmt.Errorf("write %d of %d: %w", i+1, len(writes), err)
			}
		}
		return counts, nil
	}
	query, args := batchStatement(writes)
	dest := make([]any, len(counts))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := q.QueryRowContext(ctx, query, args...).Scan(dest...); err != nil {
		return nil, fmt.Errorf("%d writes: %w", len(writes), err)
	}
	return counts, nil
}

// batchStatement is the writes as one PostgreSQL statement: each a WITH query
// returning a row per row it wrote (its placeholders moved past the
// earlier writes'), and the main query counting them.
func batchStatement(writes []batchWrite) (string, []any) {
	var s strings.Builder
	var args []any
	for i, w := range writes {
		if i == 0 {
			s.WriteString("WITH ")
		} else {
			s.WriteString(", ")
		}
		fmt.Fprintf(&s, "w%d AS (%s RETURNING 1)", i, renumber(w.query, len(args)))
		args = append(args, w.args...)
	}
	for i := range writes {
		if i == 0 {
			s.WriteString(" SELECT ")
		} else {
			s.WriteString(", ")
		}
		fmt.Fprintf(&s, "(SELECT COUNT(*) FROM w%d)", i)
	}
	return s.String(), args
}

// renumber adds offset to every placeholder ($1, $2...) of query, outside
// string literals and quoted names.
func renumber(query string, offset int) string {
	if offset == 0 {
		return query
	}
	var s strings.Builder
	s.Grow(len(query) + 8)
	for i := 0; i < len(query); {
		switch c := query[i]; {
		case c == '\'' || c == '"':
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				s.WriteString(query[i:])
				return s.String()
			}
			s.WriteString(query[i : i+end+2]) // a doubled quote inside is two literals in a row: the same text
			i += end + 2
		case c == '$' && i+1 < len(query) && isDigit(query[i+1]):
			j := i + 1
			for j < len(query) && isDigit(query[j]) {
				j++
			}
			n, _ := strconv.Atoi(query[i+1 : j])
			s.WriteString("$" + strconv.Itoa(n+offset))
			i = j
		default:
			s.WriteByte(c)
			i++
		}
	}
	return s.String()
}

func onPostgres(q Querier) bool {
	e, ok := q.(interface{ Engine() Engine })
	return ok && e.Engine() == Postgres
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
