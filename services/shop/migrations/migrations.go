// Package migrations holds the shop's database schema, applied by the host
// after the platform's own tables.
package migrations

import "embed"

// FS holds the numbered goose migrations.
//
//go:embed *.sql
var FS embed.FS
