// Package migrations holds the gateway's schema: staff accounts, their
// sessions and the audit log of staff actions.
package migrations

import "embed"

// FS holds the goose migrations.
//
//go:embed *.sql
var FS embed.FS
