package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/cputime"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/mes-calc/internal/app"
	"github.com/fabrika/fabrika/services/mes-calc/migrations"
)

// BenchmarkHandlePlaced measures mes-calc's own share of an order: the
// transaction the inbox opens for order.placed (calculation, bookings, the
// calculation record and the order.priced enqueue), on the test engine,
// without the broker.
func BenchmarkHandlePlaced(b *testing.B) {
	ctx := context.Background()
	br := testenv.NewBroker(b)
	h, err := host.Open(ctx, testenv.HostConfig(b, "mes-calc", migrations.FS), br.Deps(b, "mes-calc"))
	if err != nil {
		b.Fatal(err)
	}
	defer h.DB.Close()

	monday := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	s, err := app.New(ctx, h.DB, h.Outbox, app.Config{Now: func() time.Time { return monday }}, h.Log)
	if err != nil {
		b.Fatal(err)
	}
	line := contracts.LineItem{LineNo: 1, Product: "laser_cut_sheet", Quantity: 10, Lead: contracts.LeadStandard, Options: map[string]string{
		contracts.OptMaterial: "steel_s235", contracts.OptWidth: "200", contracts.OptHeight: "100", contracts.OptThickness: "2"}}
	i := 0
	cpu0 := cputime.Process()
	for b.Loop() {
		i++
		o := contracts.OrderPlacedV1{OrderID: fmt.Sprint("o-", i), Number: "S", Channel: contracts.ChannelShop,
			Customer: contracts.Customer{ID: "c"}, Lines: []contracts.LineItem{line}, PlacedAt: monday}
		err := h.DB.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO inbox (consumer, msg_id, subject, processed_at) VALUES ($1, $2, $3, $4)`,
				"mes-calc-orders", o.OrderID, "fabrika.order.placed", time.Now().UnixMicro()); err != nil {
				return err
			}
			return s.OnPlaced(ctx, tx, inbox.Message{}, o)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	cpu := cputime.Process() - cpu0
	b.ReportMetric(float64(cpu)/1e6/float64(i), "cpu-ms/order")
}
