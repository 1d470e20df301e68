package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
)

// wiring is how one service is built on its host: its migrations and a
// constructor. Each service is wired explicitly here, with its own Config.
type wiring struct {
	migrations fs.FS
	build      func(ctx context.Context, h *host.Host) (http.Handler, []func(context.Context) error, error)
}

func (m *Main) wire(name string, verifier *identity.Verifier, key ed25519.PrivateKey) wiring {
	return wiring{build: func(context.Context, *host.Host) (http.Handler, []func(context.Context) error, error) {
		return nil, nil, fmt.Errorf("service %s is not wired yet", name)
	}}
}

func adminCommand(ctx context.Context, args []string) error     { return fmt.Errorf("not wired yet") }
func apiClientCommand(ctx context.Context, args []string) error { return fmt.Errorf("not wired yet") }
