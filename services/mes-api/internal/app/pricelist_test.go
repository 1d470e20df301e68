package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/mes-api/internal/app"
	"github.com/fabrika/fabrika/services/mes-api/migrations"
)

// TestReplicasShareThePriceList: two replicas of mes-api on one database.
// The price list message reaches one of them (replicas share a durable
// consumer); the other quotes from it too, a new version within
// PriceListTTL. Before, the other replica answered every quote and order
// 503 "no price list" until it restarted (half the B2B orders in the fault
// suite), and kept an old list after a new one came.
func TestReplicasShareThePriceList(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		db := testenv.DBOn(t, e, migrations.FS)
		clk := testenv.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		replica := func() *app.App {
			ob := testenv.Outbox(t, db)
			a, err := app.New(ctx, db, ob, app.Config{Now: clk.Now, PriceListTTL: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		receiver, other := replica(), replica()
		deliver := func(pl contracts.PriceListV1) {
			t.Helper()
			b, err := json.Marshal(pl)
			if err != nil {
				t.Fatal(err)
			}
			subj := contracts.Subject(contracts.PriceListPublished)
			msg := inbox.Message{ID: fmt.Sprint("pl-", pl.Version), Subject: subj, Key: "pricelist", Payload: b, Deliveries: 1}
			if _, err := inbox.Deliver(ctx, db, "mes-api-pricelist", receiver.PriceListHandlers()[subj], msg); err != nil {
				t.Fatal(err)
			}
		}
		version := func(a *app.App) int64 {
			t.Helper()
			pl, ok, err := a.PriceList(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return 0
			}
			return pl.Version
		}
		v1 := contracts.DemoPriceList(clk.Now())
		deliver(v1)
		if got := version(receiver); got != v1.Version {
			t.Fatalf("the receiving replica has version %d, want %d", got, v1.Version)
		}
		clk.Advance(5 * time.Second)
		if got := version(other); got != v1.Version {
			t.Fatalf("the other replica has version %d, want %d (it has no price list: 503 to every order)", got, v1.Version)
		}
		v2 := v1
		v2.Version++
		deliver(v2)
		if got := version(receiver); got != v2.Version {
			t.Fatalf("the receiving replica has version %d, want %d", got, v2.Version)
		}
		clk.Advance(5 * time.Second)
		if got := version(other); got != v2.Version {
			t.Errorf("the other replica still quotes from version %d after the TTL, want %d", got, v2.Version)
		}
	})
}
