// Command mes-calc runs the MES calculation group on its own, on the
// internal network only. Configuration comes from the environment:
//
//	FABRIKA_DSN                  database (default sqlite data/mes-calc.db)
//	FABRIKA_HTTP_ADDR            application listener (default 127.0.0.1:8083; mes-calc has no routes there)
//	FABRIKA_ADMIN_ADDR           admin listener: the price administration (/pricing/...), /metrics,
//	                             /healthz, /readyz (default 127.0.0.1:9083)
//	FABRIKA_ADMIN_TOKEN          bearer token of the price administration and the /admin actions
//	FABRIKA_NATS_URL             JetStream server (default nats://127.0.0.1:4222)
//	FABRIKA_OTLP_ENDPOINT        OTLP/HTTP traces endpoint (optional)
//	FABRIKA_LOG_LEVEL            debug|info|warn|error (default info)
//	FABRIKA_IDENTITY_PUBLIC_KEY  base64 (std) Ed25519 public key of the gateway: an admin's
//	                             identity token is accepted as well as the admin token
//	FABRIKA_HORIZON_DAYS         working days ahead a step may be planned before
//	                             the order goes to review (default 780)
package main

import (
	"context"
	"net/http"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/standalone"
	mescalc "github.com/fabrika/fabrika/services/mes-calc"
	"github.com/fabrika/fabrika/services/mes-calc/migrations"
)

func main() {
	standalone.Main("mes-calc", migrations.FS, "127.0.0.1:8083", build)
}

func build(ctx context.Context, h *host.Host, env standalone.Env) (http.Handler, []func(context.Context) error, error) {
	var cfg mescalc.Config
	st := standalone.NewSettings(env.Getenv)
	st.Int("FABRIKA_HORIZON_DAYS", &cfg.HorizonDays, 0)
	if err := st.Err(); err != nil {
		return nil, nil, err
	}
	svc, err := mescalc.New(ctx, h, cfg)
	if err != nil {
		return nil, nil, err
	}
	return svc.Handler(), svc.Background(), nil
}
