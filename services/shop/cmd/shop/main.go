// Command shop runs the shop service on its own, as it is deployed.
// Configuration comes from the environment (platform/standalone reads the
// common FABRIKA_DSN, FABRIKA_HTTP_ADDR (default 127.0.0.1:8081),
// FABRIKA_NATS_URL, FABRIKA_OTLP_ENDPOINT and FABRIKA_LOG_LEVEL); the shop's
// own settings are:
//
//	FABRIKA_SHOP_COOKIE_SECURE        mark cookies Secure (default true; false only for local plain http)
//	FABRIKA_SHOP_SESSION_TTL          session lifetime (default 336h)
//	FABRIKA_SHOP_LOGIN_PER_IP         password attempts (sign-in, sign-up, reset) per client address per window (default 30)
//	FABRIKA_SHOP_LOGIN_WINDOW         that limit's window (default 15m)
//	FABRIKA_SMTP_URL                  SMTP server for account e-mails (smtp://user:password@host:587?from=shop@example.com)
//	FABRIKA_DATA_DIR                  without FABRIKA_SMTP_URL, e-mails are written to <dir>/mail (default data; development)
//	FABRIKA_SHOP_PUBLIC_URL           the shop's public address, for links in e-mails (https://shop.example.com)
//	FABRIKA_SHOP_SIGNUP_SIGNS_IN      development and load tests only: sign-up signs in at once and says when an address is taken
//	FABRIKA_SHOP_CACHE_TTL            catalogue cache lifetime (default 1m)
//	FABRIKA_SHOP_ORDERS_CACHE_TTL     lifetime of a cached "my orders" page (default 5s; "off" turns the cache off)
//
// A malformed value stops the start with an error naming the variable.
package main

import (
	"context"
	"net/http"
	"path/filepath"
	"time"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/standalone"
	"github.com/fabrika/fabrika/services/shop"
	"github.com/fabrika/fabrika/services/shop/migrations"
)

func main() {
	standalone.Main("shop", migrations.FS, "127.0.0.1:8081", build)
}

func build(ctx context.Context, h *host.Host, env standalone.Env) (http.Handler, []func(context.Context) error, error) {
	cfg, err := config(env.Getenv)
	if err != nil {
		return nil, nil, err
	}
	cfg.Identity = env.Verifier // FABRIKA_IDENTITY_PUBLIC_KEY(S): the client's address comes signed
	svc, err := shop.New(ctx, h, cfg)
	if err != nil {
		return nil, nil, err
	}
	return svc.Handler(), svc.Background(), nil
}

// config reads the shop's own settings; unset ones keep shop.Config's
// defaults, except cookies, which are Secure unless said otherwise.
func config(getenv func(string) string) (shop.Config, error) {
	cfg := shop.Config{CookieSecure: true}
	st := standalone.NewSettings(getenv)
	st.Bool("FABRIKA_SHOP_COOKIE_SECURE", &cfg.CookieSecure)
	st.Duration("FABRIKA_SHOP_SESSION_TTL", &cfg.SessionTTL)
	st.Int("FABRIKA_SHOP_LOGIN_PER_IP", &cfg.AttemptsPerIP.Events, 1)
	st.Duration("FABRIKA_SHOP_LOGIN_WINDOW", &cfg.AttemptsPerIP.Per)
	if cfg.AttemptsPerIP.Events > 0 && cfg.AttemptsPerIP.Per == 0 {
		cfg.AttemptsPerIP.Per = 15 * time.Minute
	}
	if cfg.AttemptsPerIP.Per > 0 && cfg.AttemptsPerIP.Events == 0 {
		cfg.AttemptsPerIP.Events = 30
	}
	st.Duration("FABRIKA_SHOP_CACHE_TTL", &cfg.CacheTTL)
	st.Bool("FABRIKA_SHOP_SIGNUP_SIGNS_IN", &cfg.SignUpSignsIn)
	cfg.SMTPURL, cfg.PublicURL = getenv("FABRIKA_SMTP_URL"), getenv("FABRIKA_SHOP_PUBLIC_URL")
	if cfg.SMTPURL == "" {
		cfg.MailDir = filepath.Join(st.String("FABRIKA_DATA_DIR", "data"), "mail")
	}
	if getenv("FABRIKA_SHOP_ORDERS_CACHE_TTL") == "off" {
		cfg.OrdersCacheTTL = -1
	} else {
		st.Duration("FABRIKA_SHOP_ORDERS_CACHE_TTL", &cfg.OrdersCacheTTL)
	}
	return cfg, st.Err()
}
