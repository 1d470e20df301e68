package shop_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/shop"
	"github.com/fabrika/fabrika/services/shop/migrations"
)

// fanOutBound is how soon a replica must drop what another replica's
// commit made stale while the broker is up (docs/messaging.md, "Caches
// across replicas"). The caches' TTLs are an hour here: only the fan-out can
// meet it.
const fanOutBound = 3 * time.Second

// startReplicas starts two shops on one database on engine, and a producer,
// all on one broker; the second env shares the first's producer and mails.
func startReplicas(t *testing.T, engine sqldb.Engine) (*env, *env) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := testenv.NewBroker(t)
	dsn, mailDir := testenv.DSNOn(t, engine), t.TempDir()
	cfg := shop.Config{CookieSecure: false, MailDir: mailDir, PasswordMemoryKiB: 1024, PasswordTime: 1,
		CacheTTL: time.Hour, SessionCacheTTL: time.Hour, OrdersCacheTTL: time.Hour}
	var hosts []*host.Host
	var handlers []http.Handler
	var background [][]func(context.Context) error
	for _, name := range []string{"shop-a", "shop-b"} {
		hc := testenv.HostConfig(t, "shop", migrations.FS)
		hc.DSN = dsn
		h, err := host.Open(ctx, hc, b.Deps(t, name))
		if err != nil {
			t.Fatal(err)
		}
		svc, err := shop.New(ctx, h, cfg)
		if err != nil {
			t.Fatal(err)
		}
		hosts, handlers, background = append(hosts, h), append(handlers, svc.Handler()), append(background, svc.Background())
	}
	prod, err := host.Open(ctx, testenv.HostConfig(t, "producer", nil), b.Deps(t, "producer"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	testenv.Run(t, prod, nil)
	for i, h := range hosts {
		testenv.Run(t, h, handlers[i], background[i]...)
	}
	var envs []*env
	for _, h := range hosts {
		e := &env{t: t, ctx: ctx, broker: b, shop: h, producer: prod, base: "http://" + h.Addr(), mailDir: mailDir,
			client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
		testenv.Ready(t, h)
		envs = append(envs, e)
	}
	return envs[0], envs[1]
}

// Two shop replicas on one database: a new price list (an event one of them
// handles), an order placed and priced, a sign-out and a password change,
// each through one replica, show in the other's caches within fanOutBound
// (issue 16, point 8).
func TestReplicasSeeEachOthersWrites(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, engine sqldb.Engine) {
		a, b := startReplicas(t, engine)
		both := map[string]*env{"a": a, "b": b}
		each := func(check func(name string, e *env) error) func() error {
			return func() error {
				for name, e := range both {
					if err := check(name, e); err != nil {
						return err
					}
				}
				return nil
			}
		}

		// The catalogue, cached by both, follows a new price list.
		version := func(want int64) func() error {
			return each(func(name string, e *env) error {
				var c struct {
					Version int64 `json:"price_list_version"`
				}
				res := e.do("GET", "/shop/api/v1/catalog", "", nil, nil)
				if res.code != 200 {
					return fmt.Errorf("replica %s: catalogue %d", name, res.code)
				}
				res.json(t, &c)
				if c.Version != want {
					return fmt.Errorf("replica %s serves price list v%d, want v%d", name, c.Version, want)
				}
				return nil
			})
		}
		pl := contracts.DemoPriceList(time.Now())
		a.publish(contracts.PriceListPublished, "pricelist", pl)
		testenv.Eventually(t, 20*time.Second, version(1))
		pl.Version, pl.PublishedAt = 2, pl.PublishedAt.Add(time.Second)
		a.publish(contracts.PriceListPublished, "pricelist", pl)
		testenv.Eventually(t, 20*time.Second, func() error { // the event's way through the broker, then the fan-out
			var n int
			if err := a.shop.DB.QueryRowContext(a.ctx, `SELECT COUNT(*) FROM price_list WHERE version = 2`).Scan(&n); err != nil || n != 1 {
				return fmt.Errorf("v2 not stored yet (%v)", err)
			}
			return nil
		})
		testenv.Eventually(t, fanOutBound, version(2))

		// "My orders", cached by both, follows an order placed through a
		// and the order's pricing (an event one of them handles).
		tok := a.signUp()
		orders := func(want string) func() error {
			return each(func(name string, e *env) error {
				var p struct{ Orders []orderOut }
				res := e.do("GET", "/shop/api/v1/orders", tok, nil, nil)
				if res.code != 200 {
					return fmt.Errorf("replica %s: my orders %d %s", name, res.code, res.body)
				}
				res.json(t, &p)
				got := "none"
				if len(p.Orders) > 0 {
					got = p.Orders[0].Status
				}
				if got != want {
					return fmt.Errorf("replica %s: my orders show %s, want %s", name, got, want)
				}
				return nil
			})
		}
		testenv.Eventually(t, fanOutBound, orders("none"))
		res, o := a.place(tok, "replicas", orderBody(1))
		if res.code != 201 {
			t.Fatalf("place through a: %d %s", res.code, res.body)
		}
		testenv.Eventually(t, fanOutBound, orders(contracts.StatusPlaced))
		a.publish(contracts.OrderPriced, o.ID, contracts.OrderPricedV1{OrderID: o.ID, Channel: "shop", Total: 12345, Currency: "EUR",
			Lines: []contracts.PricedLine{{LineNo: 1, Quantity: 10, UnitPrice: 1000, Total: 10000}}, LeadDays: 10, Routing: []contracts.RoutingStep{{LineNo: 1, Seq: 1, Operation: "laser_cut", Workstation: "laser", PlannedMinutes: 10}},
			ShipDate: "2026-12-10", PricedAt: time.Now().UTC()})
		var status string
		testenv.Eventually(t, 20*time.Second, func() error {
			if err := a.shop.DB.QueryRowContext(a.ctx, `SELECT status FROM orders WHERE id = $1`, o.ID).Scan(&status); err != nil {
				return err
			}
			if status == contracts.StatusPlaced {
				return fmt.Errorf("order not priced yet")
			}
			return nil
		})
		testenv.Eventually(t, fanOutBound, orders(status))

		// A session signed out through a, and the other sessions of an
		// account whose password changed through a, end on b.
		signedIn := func(tok string, want int) func() error {
			return func() error {
				if res := b.do("GET", "/shop/api/v1/me", tok, nil, nil); res.code != want {
					return fmt.Errorf("replica b answers %d to the session, want %d", res.code, want)
				}
				return nil
			}
		}
		testenv.Eventually(t, fanOutBound, signedIn(tok, 200)) // cached by b
		if res := a.do("DELETE", "/shop/api/v1/sessions/current", tok, nil, nil); res.code != 204 {
			t.Fatalf("sign out through a: %d %s", res.code, res.body)
		}
		testenv.Eventually(t, fanOutBound, signedIn(tok, 401))

		n := seq.Add(1)
		email, pw := fmt.Sprintf("changer%d-%d@example.com", n, time.Now().UnixNano()), "correct horse battery"
		old := a.account(email, "Ada Changer", pw, nil)
		testenv.Eventually(t, fanOutBound, signedIn(old, 200)) // cached by b
		var s struct{ Token string }
		res = a.do("POST", "/shop/api/v1/me/password", old, map[string]string{"current_password": pw, "password": "a brand new password"}, nil)
		if res.code != 200 && res.code != 201 {
			t.Fatalf("change password through a: %d %s", res.code, res.body)
		}
		res.json(t, &s)
		testenv.Eventually(t, fanOutBound, signedIn(old, 401))
		testenv.Eventually(t, fanOutBound, signedIn(s.Token, 200))
	})
}
