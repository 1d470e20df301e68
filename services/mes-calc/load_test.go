package mescalc_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/cputime"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// BenchmarkPlacedToPriced measures the whole path of an order through the
// real service: a fake shop enqueues order.placed in its outbox at a steady
// rate (1,000 orders/s, or FABRIKA_BENCH_RATE), from 16 goroutines so that
// one slow commit does not hold the others back; its relay publishes to the
// embedded JetStream; mes-calc's inbox calculates and books in one
// transaction and its relay publishes order.priced, which a watcher on the
// stream receives. Latency is from the commit of order.placed in the shop to
// the arrival of order.priced; calc-p50/p99 are mes-calc's own share, from
// order.placed seen on the stream to order.priced seen on the stream.
//
// It runs mes-calc on SQLite, and when PostgreSQL is configured on
// PostgreSQL: as it is (calculations booking optimistically, 8 at once, an
// order a transaction) and serial (mescalc.Config.Serial: every
// calculation holds the price list's row lock until it commits, in the
// inbox's batches, as before issue 21); it prints the ratios of the priced
// rates of the same run. Run with a fixed count of orders:
//
//	FABRIKA_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable \
//	  go test -run '^$' -bench PlacedToPriced -benchtime 5000x ./services/mes-calc/
func BenchmarkPlacedToPriced(b *testing.B) {
	type variant struct {
		name string
		opt  envOptions
	}
	variants := []variant{{"sqlite", envOptions{engine: sqldb.SQLite}}}
	if testenv.PostgresConfigured() {
		variants = append(variants,
			variant{"postgres", envOptions{engine: sqldb.Postgres}},
			variant{"postgres-serial", envOptions{engine: sqldb.Postgres, serial: true}})
	}
	priced := map[string]float64{}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) { priced[v.name] = placedToPriced(b, v.opt) })
	}
	if serial := priced["postgres-serial"]; serial > 0 {
		// On stdout beside the results: a parent benchmark's log is not shown.
		fmt.Printf("PlacedToPriced priced/s beside postgres-serial: postgres %.2fx, sqlite %.2fx\n",
			priced["postgres"]/serial, priced["sqlite"]/serial)
	}
}

func placedToPriced(b *testing.B, opt envOptions) float64 {
	rate := 1000 // orders per second
	if v, err := strconv.Atoi(os.Getenv("FABRIKA_BENCH_RATE")); err == nil && v > 0 {
		rate = v
	}
	e := newEnvWith(b, true, opt)
	n := b.N
	products := []contracts.LineItem{
		bracketLine(1, 10, contracts.LeadStandard),
		{LineNo: 1, Product: "printed_3d_part", Quantity: 2, Lead: contracts.LeadRush, Options: map[string]string{
			contracts.OptMaterial: "pla", contracts.OptWidth: "40", contracts.OptHeight: "30", contracts.OptThickness: "10"}},
		{LineNo: 1, Product: "cnc_milled_part", Quantity: 5, Lead: contracts.LeadStandard, Options: map[string]string{
			contracts.OptMaterial: "alu_6082", contracts.OptFinish: "anodise", contracts.OptWidth: "80", contracts.OptHeight: "40", contracts.OptThickness: "15"}},
	}
	placed := make([]time.Time, n)
	work := make(chan int, n)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				e.place(newOrder(fmt.Sprintf("bench-%d-%d", n, i), products[i%len(products)]))
				placed[i] = time.Now()
			}
		}()
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cputime.Process()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
			time.Sleep(d) // paces the load at rate: not a wait for the service
		}
		work <- i
	}
	close(work)
	wg.Wait()
	sent := time.Since(start)
	e.watch.untilWithin(b, 10*time.Minute, "every order priced", func() bool { return len(e.watch.arrivals) == n })
	total, cpu := time.Since(start), cputime.Process()-cpu0
	b.StopTimer()

	e.watch.mu.Lock()
	lat := make([]time.Duration, 0, n)     // shop commit -> order.priced received
	calcLat := make([]time.Duration, 0, n) // order.placed received -> order.priced received
	for i, at := range placed {
		id := fmt.Sprintf("bench-%d-%d", n, i)
		lat = append(lat, e.watch.arrivals[id].Sub(at))
		calcLat = append(calcLat, e.watch.arrivals[id].Sub(e.watch.placedAt[id]))
	}
	e.watch.mu.Unlock()
	slices.Sort(lat)
	slices.Sort(calcLat)
	at := func(l []time.Duration, p float64) float64 {
		return float64(l[min(len(l)-1, int(p*float64(len(l))))].Microseconds()) / 1000
	}
	pct := func(p float64) float64 { return at(lat, p) }
	b.ReportMetric(at(calcLat, 0.50), "calc-p50-ms")
	b.ReportMetric(at(calcLat, 0.99), "calc-p99-ms")
	b.ReportMetric(float64(n)/sent.Seconds(), "placed/s")
	b.ReportMetric(float64(n)/total.Seconds(), "priced/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	// Everything in this process (fake shop, broker, mes-calc, watcher).
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(n), "cpu-ms/order")
	// How often a calculation was made again because a day it booked filled
	// up meanwhile, and how often a batch of the inbox met a deadlock.
	b.ReportMetric(e.metric("fabrika_mescalc_calculation_attempts_sum")/float64(n), "attempts/order")
	b.ReportMetric(e.metric("fabrika_inbox_batch_splits_total"), "batch-splits")
	b.ReportMetric(e.metric("fabrika_inbox_handler_failures_total"), "failures")
	return float64(n) / total.Seconds()
}

// metric sums the samples of a metric of mes-calc's /metrics.
func (e *env) metric(name string) float64 {
	resp, err := http.Get("http://" + e.calc.AdminAddr() + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var sum float64
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, name); ok && (rest[0] == ' ' || rest[0] == '{') {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}
