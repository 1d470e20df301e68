// Package migrations holds mes-calc's schema, applied by the host after the
// platform's.
package migrations

import "embed"

// FS holds the goose migrations.
//
//go:embed *.sql
var FS embed.FS
