// Command crm runs the CRM on its own, as it is deployed: its database, the
// broker connection, the host (outbox relay, inbox, HTTP) and the CRM's
// routes. Configuration comes from the environment:
//
//	FABRIKA_DSN                  database (default sqlite data/crm.db)
//	FABRIKA_HTTP_ADDR            listen address (default 127.0.0.1:8082)
//	FABRIKA_NATS_URL             JetStream server (default nats://127.0.0.1:4222)
//	FABRIKA_OTLP_ENDPOINT        OTLP/HTTP traces endpoint (optional)
//	FABRIKA_LOG_LEVEL            debug|info|warn|error (default info)
//	FABRIKA_IDENTITY_PUBLIC_KEY  base64 (std) Ed25519 public key of the gateway (required)
//	FABRIKA_CRM_STUCK            stuck thresholds, e.g. "placed=15m,priced=24h"
//	FABRIKA_CRM_CACHE_SIZE       cached list pages (default 2000; -1 disables)
//	FABRIKA_CRM_CONCURRENCY      requests served at once, the others wait in line (default twice the cores; -1: no limit)
//	FABRIKA_CRM_QUEUE_WAIT       how long a request waits in line before a 503 (default 5s)
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/standalone"
	"github.com/fabrika/fabrika/services/crm"
)

func main() {
	standalone.Main("crm", crm.Migrations, "127.0.0.1:8082", build, crm.DBOptions()...)
}

func build(ctx context.Context, h *host.Host, env standalone.Env) (http.Handler, []func(context.Context) error, error) {
	if env.Verifier == nil {
		return nil, nil, errors.New("FABRIKA_IDENTITY_PUBLIC_KEY (the gateway's Ed25519 public key) is required")
	}
	stuck, err := parseStuck(env.Getenv("FABRIKA_CRM_STUCK"))
	if err != nil {
		return nil, nil, err
	}
	cfg := crm.Config{Identity: env.Verifier, StuckAfter: stuck}
	st := standalone.NewSettings(env.Getenv)
	st.Int("FABRIKA_CRM_CACHE_SIZE", &cfg.CacheSize, -1)
	st.Int("FABRIKA_CRM_CONCURRENCY", &cfg.Concurrency, -1)
	st.Parse("FABRIKA_CRM_QUEUE_WAIT", func(v string) (err error) {
		cfg.QueueWait, err = time.ParseDuration(v)
		return err
	})
	if err := st.Err(); err != nil {
		return nil, nil, err
	}
	svc, err := crm.New(ctx, h, cfg)
	if err != nil {
		return nil, nil, err
	}
	return svc.Handler(), svc.Background(), nil
}

func parseStuck(s string) (map[string]time.Duration, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]time.Duration{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		d, err := time.ParseDuration(v)
		if !ok || err != nil {
			return nil, fmt.Errorf("FABRIKA_CRM_STUCK: threshold %q: want status=duration", kv)
		}
		out[k] = d
	}
	return out, nil
}
