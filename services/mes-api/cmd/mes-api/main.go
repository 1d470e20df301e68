// Command mes-api runs the B2B API on its own: its database (clients, keys,
// their orders, webhook endpoints and deliveries), the broker connection,
// and the listener with /v1/... (for the gateway's /api/ prefix) and the
// internal admin routes /clients... beside /metrics, /healthz, /readyz and
// /admin. Keep /clients, /metrics and /admin on the internal network.
//
// Configuration comes from the environment (platform/standalone):
//
//	FABRIKA_DSN                  database (default sqlite data/mes-api.db)
//	FABRIKA_HTTP_ADDR            listener (default 127.0.0.1:8085)
//	FABRIKA_NATS_URL             JetStream server (default nats://127.0.0.1:4222)
//	FABRIKA_OTLP_ENDPOINT        OTLP/HTTP traces endpoint (optional)
//	FABRIKA_LOG_LEVEL            debug|info|warn|error (default info)
//	FABRIKA_IDENTITY_PUBLIC_KEY  base64 (std) Ed25519 public key of the gateway (required)
//	FABRIKA_ALLOW_PRIVATE_WEBHOOKS "true" lets webhooks reach loopback and private
//	                             addresses: development only (default false: public only)
//	FABRIKA_SECRET_KEY           base64 of 32 random bytes: seals webhook secrets at rest.
//	                             Without it webhook endpoints cannot be created, and the
//	                             service refuses to start on a database that holds some.
//	FABRIKA_API_DEFAULT_RATE     a new key's requests per minute (default 600)
package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/standalone"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
	"github.com/fabrika/fabrika/services/mes-api/migrations"
)

func main() {
	standalone.Main("mes-api", migrations.FS, "127.0.0.1:8085", build)
}

func build(ctx context.Context, h *host.Host, env standalone.Env) (http.Handler, []func(context.Context) error, error) {
	if env.Verifier == nil {
		return nil, nil, errors.New("FABRIKA_IDENTITY_PUBLIC_KEY (the gateway's Ed25519 public key) is required")
	}
	cfg := mesapi.Config{Identity: env.Verifier}
	st := standalone.NewSettings(env.Getenv)
	st.Bool("FABRIKA_ALLOW_PRIVATE_WEBHOOKS", &cfg.Webhooks.AllowPrivate)
	st.Int("FABRIKA_API_DEFAULT_RATE", &cfg.DefaultRatePerMinute, 1)
	cfg.Secrets = st.Secrets("FABRIKA_SECRET_KEY")
	if err := st.Err(); err != nil {
		return nil, nil, err
	}
	svc, err := mesapi.New(ctx, h, cfg)
	if err != nil {
		return nil, nil, err
	}
	return svc.Handler(), svc.Background(), nil
}
