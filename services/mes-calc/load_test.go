package mescalc_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
)

// BenchmarkPlacedToPriced measures the whole path of an order through the
// real service: a fake shop enqueues order.placed in its outbox at a steady
// rate (1,000 orders/s, or FABRIKA_BENCH_RATE), from 16 goroutines so that
// one slow commit does not hold the others back; its relay publishes to the
// embedded JetStream; mes-calc's inbox calculates and books in one
// transaction and its relay publishes order.priced, which a watcher on the
// stream receives. Latency is from the commit of order.placed in the shop to
// the arrival of order.priced; calc-p50/p99 are mes-calc's own share, from
// order.placed seen on the stream to order.priced seen on the stream. Run
// with a fixed count of orders:
//
//	go test -run '^$' -bench PlacedToPriced -benchtime 5000x ./services/mes-calc/
func BenchmarkPlacedToPriced(b *testing.B) {
	rate := 1000 // orders per second
	if v, err := strconv.Atoi(os.Getenv("FABRIKA_BENCH_RATE")); err == nil && v > 0 {
		rate = v
	}
	e := newEnv(b, true)
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
	start, cpu0 := time.Now(), cpuTime()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
			time.Sleep(d)
		}
		work <- i
	}
	close(work)
	wg.Wait()
	sent := time.Since(start)
	e.watch.untilWithin(b, 10*time.Minute, "every order priced", func() bool { return len(e.watch.arrivals) == n })
	total, cpu := time.Since(start), cpuTime()-cpu0
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
}
