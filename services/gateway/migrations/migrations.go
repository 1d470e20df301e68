// Package migrations holds the gateway's schema: staff accounts, their
// sessions, the audit log of staff actions and the workstations known from
// the price list.
package migrations

import "embed"

// FS holds the goose migrations.
//
//go:embed *.sql
var FS embed.FS
