package sqldb

import (
	"strconv"
	"strings"
)

// Values returns the placeholders of a multi-row VALUES list, rows groups of
// cols numbered from $1: Values(2, 3) is "($1, $2, $3), ($4, $5, $6)". One
// statement inserts many rows in one round trip on both engines; a statement
// takes at most 32,766 parameters on SQLite (65,535 on PostgreSQL), so
// callers insert long lists in chunks.
func Values(rows, cols int) string {
	var b strings.Builder
	n := 1
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			n++
		}
		b.WriteByte(')')
	}
	return b.String()
}
