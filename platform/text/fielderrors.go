package text

import (
	"maps"
	"slices"
	"strings"
)

// FieldErrors maps a field ("lines[0].quantity", "delivery.city") to what is
// wrong with it: how every service refuses a request or a change field by
// field (422 with the problem's errors, or messages beside a form's fields).
type FieldErrors map[string]string

// Error lists the fields in order: "field: problem; field: problem".
func (f FieldErrors) Error() string {
	keys := slices.Sorted(maps.Keys(f))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + f[k]
	}
	return strings.Join(parts, "; ")
}
