package main

import (
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
		want func(t *testing.T, secure bool, window time.Duration, perIP int)
	}{
		{"defaults", nil, true, func(t *testing.T, secure bool, window time.Duration, perIP int) {
			if !secure || window != 0 || perIP != 0 {
				t.Fatalf("secure=%v window=%v perIP=%d", secure, window, perIP)
			}
		}},
		{"set", map[string]string{"FABRIKA_SHOP_COOKIE_SECURE": "false", "FABRIKA_SHOP_LOGIN_WINDOW": "5m", "FABRIKA_SHOP_LOGIN_PER_IP": "7"}, true,
			func(t *testing.T, secure bool, window time.Duration, perIP int) {
				if secure || window != 5*time.Minute || perIP != 7 {
					t.Fatalf("secure=%v window=%v perIP=%d", secure, window, perIP)
				}
			}},
		{"bad bool", map[string]string{"FABRIKA_SHOP_COOKIE_SECURE": "yes please"}, false, nil},
		{"bad duration", map[string]string{"FABRIKA_SHOP_SESSION_TTL": "forever"}, false, nil},
		{"negative duration", map[string]string{"FABRIKA_SHOP_CACHE_TTL": "-1m"}, false, nil},
		{"bad integer", map[string]string{"FABRIKA_SHOP_LOGIN_PER_IP": "0"}, false, nil},
		{"orders cache off", map[string]string{"FABRIKA_SHOP_ORDERS_CACHE_TTL": "off"}, true, nil},
		{"bad orders cache", map[string]string{"FABRIKA_SHOP_ORDERS_CACHE_TTL": "0s"}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config(func(k string) string { return tt.env[k] })
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.want != nil {
				tt.want(t, cfg.CookieSecure, cfg.AttemptsPerIP.Per, cfg.AttemptsPerIP.Events)
			}
			if off := tt.env["FABRIKA_SHOP_ORDERS_CACHE_TTL"] == "off"; off != (cfg.OrdersCacheTTL < 0) {
				t.Fatalf("orders cache TTL %v for %q", cfg.OrdersCacheTTL, tt.env["FABRIKA_SHOP_ORDERS_CACHE_TTL"])
			}
		})
	}
}
