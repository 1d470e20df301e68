// Package migrations holds mes-api's embedded SQL migrations.
package migrations

import "embed"

// FS holds the goose migrations, applied after the platform's.
//
//go:embed *.sql
var FS embed.FS
