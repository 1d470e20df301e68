// Package migrations holds mes-operator's SQL migrations, applied by the
// host after the platform's.
package migrations

import "embed"

// FS holds the migrations in goose format.
//
//go:embed *.sql
var FS embed.FS
