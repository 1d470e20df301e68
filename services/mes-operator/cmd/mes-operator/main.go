// Command mes-operator runs the shop-floor service on its own: the
// operators' tablet pages and JSON API under /mes/, fed by confirmed orders
// from the broker. Keep /metrics and /admin on the internal network.
//
// Configuration comes from the environment (platform/standalone):
//
//	FABRIKA_DSN                                database (default sqlite data/mes-operator.db)
//	FABRIKA_HTTP_ADDR                          listener (default 127.0.0.1:8084)
//	FABRIKA_NATS_URL                           JetStream server (default nats://127.0.0.1:4222)
//	FABRIKA_OTLP_ENDPOINT                      OTLP/HTTP traces endpoint (optional)
//	FABRIKA_LOG_LEVEL                          debug|info|warn|error (default info)
//	FABRIKA_IDENTITY_PUBLIC_KEY                base64 (std) Ed25519 public key of the gateway (required)
//	FABRIKA_MES_OPERATOR_SHIPPING_WORKSTATION  workstation whose operators may ship any order (default shipping)
//	FABRIKA_MES_OPERATOR_LOGIN_URL             where browsers without a staff identity are sent; - for 401 (default /staff/login)
//	FABRIKA_MES_OPERATOR_EVENT_RETENTION       how long operator event ids are kept to recognise retries (default 720h)
package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/standalone"
	mesoperator "github.com/fabrika/fabrika/services/mes-operator"
	"github.com/fabrika/fabrika/services/mes-operator/migrations"
)

func main() {
	standalone.Main(mesoperator.Name, migrations.FS, "127.0.0.1:8084", build)
}

func build(ctx context.Context, h *host.Host, env standalone.Env) (http.Handler, []func(context.Context) error, error) {
	cfg, err := config(env)
	if err != nil {
		return nil, nil, err
	}
	svc, err := mesoperator.New(ctx, h, cfg)
	if err != nil {
		return nil, nil, err
	}
	return svc.Handler(), svc.Background(), nil
}

// config reads the service's own settings.
func config(env standalone.Env) (mesoperator.Config, error) {
	if env.Verifier == nil {
		return mesoperator.Config{}, errors.New("FABRIKA_IDENTITY_PUBLIC_KEY (the gateway's Ed25519 public key) is required")
	}
	st := standalone.NewSettings(env.Getenv)
	cfg := mesoperator.Config{
		Identity:            env.Verifier,
		ShippingWorkstation: st.String("FABRIKA_MES_OPERATOR_SHIPPING_WORKSTATION", "shipping"),
		LoginURL:            st.String("FABRIKA_MES_OPERATOR_LOGIN_URL", "/staff/login"),
		EventRetention:      720 * time.Hour,
	}
	st.Duration("FABRIKA_MES_OPERATOR_EVENT_RETENTION", &cfg.EventRetention)
	return cfg, st.Err()
}
