package crm_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/crm"
)

// fanOutBound is how soon a replica must drop a page another replica's
// write made stale, while the broker is up (docs/messaging.md, "Caches
// across replicas"); the pages' own TTL is an hour here, so only the
// fan-out can meet it.
const fanOutBound = 3 * time.Second

// startReplica starts one more CRM on dsn, beside the others on b.
func startReplica(t *testing.T, b *testenv.Broker, dsn, name string, pub []byte) string {
	t.Helper()
	ctx := context.Background()
	cfg := testenv.HostConfig(t, "crm", crm.Migrations)
	cfg.DSN = dsn
	h, err := host.Open(ctx, cfg, b.Deps(t, name))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := crm.New(ctx, h, crm.Config{Identity: identity.NewVerifier("crm", pub), CacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, h, svc.Handler())
	return "http://" + h.Addr()
}

// Two CRM replicas on one database: a manager's action through one, and an
// event handled by whichever replica the broker gives it to, show in the
// other's cached list within fanOutBound (issue 16, point 8).
func TestReplicasSeeEachOthersWrites(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, engine sqldb.Engine) {
		b := testenv.NewBroker(t)
		pub, priv, err := identity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		dsn := testenv.DSNOn(t, engine)
		a := &env{t: t, broker: b, signer: identity.NewSigner(priv), pub: pub, base: startReplica(t, b, dsn, "crm-a", pub)}
		bb := &env{t: t, broker: b, signer: a.signer, pub: pub, base: startReplica(t, b, dsn, "crm-b", pub)}
		p := startProducer(t, b, testenv.HostConfig(t, "shop", nil))

		status := func(e *env) string {
			var pg listPage
			e.getJSON("/crm/api/v1/orders?limit=10", &pg)
			for _, o := range pg.Orders {
				if o.ID == "order-001" {
					return o.Status
				}
			}
			return "absent"
		}
		fresh := func(want string) func() error {
			return func() error {
				for name, e := range map[string]*env{"a": a, "b": bb} {
					if got := status(e); got != want {
						return fmt.Errorf("replica %s lists order-001 as %s, want %s", name, got, want)
					}
				}
				return nil
			}
		}

		emit(t, p.run.Host().DB, placedEv(1, "shop"))
		testenv.EventuallyTrue(t, brokerWait, "the order placed", func() bool {
			resp, body := a.do("GET", "/crm/api/v1/orders/order-001", identity.RoleManager, nil, nil)
			return resp.StatusCode == 200 && strings.Contains(body, `"status":"placed"`)
		})
		testenv.Eventually(t, fanOutBound, fresh("placed")) // both lists cached now

		// An event: one replica handles it, both lists show it.
		emit(t, p.run.Host().DB, pricedEv(1))
		testenv.EventuallyTrue(t, brokerWait, "the order priced", func() bool {
			resp, body := a.do("GET", "/crm/api/v1/orders/order-001", identity.RoleManager, nil, nil)
			return resp.StatusCode == 200 && strings.Contains(body, `"status":"priced"`)
		})
		testenv.Eventually(t, fanOutBound, fresh("priced"))

		// A manager's action through replica a shows in b's cached list.
		var c card
		a.getJSON("/crm/api/v1/orders/order-001", &c)
		if resp, body := a.do("POST", "/crm/api/v1/orders/order-001/hold", identity.RoleManager, nil,
			map[string]string{"If-Match": fmt.Sprint(c.Order.Version)}); resp.StatusCode != 200 {
			t.Fatalf("hold through replica a: %d %s", resp.StatusCode, body)
		}
		testenv.Eventually(t, fanOutBound, fresh("on_hold"))
	})
}
