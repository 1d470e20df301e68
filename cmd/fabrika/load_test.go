package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/cmd/internal/loadgen"
)

// TestLoadDrivesThePlatform: `fabrika load` signs up more shop customers
// than the shop lets one address sign up (each at its own address, through
// a gateway that trusts the load's X-Forwarded-For), places orders in the
// shop and through the B2B API, has them confirmed, produced and shipped
// by staff, and reports every hop of every order from the services' events
// in the broker and the CPU the platform spent per order.
func TestLoadDrivesThePlatform(t *testing.T) {
	var natsURL string
	r := startMain(t, func(_ context.Context, m *Main) {
		m.Config.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		if natsURL = m.Config.NATSURL; natsURL == "" {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeBasePort(t, 1)))
			m.Config.NATSListen, natsURL = addr, "nats://"+addr
		}
	})
	admin := []string{"fabrika-dev=http://" + r.m.AdminAddr("gateway")} // one process
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	err := run(ctx, []string{"load", "-url", r.public, "-data-dir", r.m.Config.DataDir,
		"-nats-url", natsURL, "-gateway-dsn", dsnOf(r.m, "gateway"), "-mes-api-dsn", dsnOf(r.m, "mes-api"), "-admin", strings.Join(admin, ","),
		"-rate", "4", "-phase", "3s", "-drain", "90s", "-customers", "12", "-staff", "1"}, &out)
	report := out.String()
	t.Log(report)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, report)
	}
	count := func(hop string) int {
		m := regexp.MustCompile(`\| ` + hop + ` \| (\d+) \|`).FindStringSubmatch(report)
		if m == nil {
			t.Fatalf("no %s hop in the report:\n%s", hop, report)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	placed := count("placed")
	if placed < 6 {
		t.Fatalf("%d orders placed in 3 s at 4/s:\n%s", placed, report)
	}
	for _, hop := range []string{"priced", "confirmed", "in_production", "shipped"} {
		if n := count(hop); n != placed {
			t.Errorf("%s: %d of %d orders", hop, n, placed)
		}
	}
	if strings.Contains(report, "errors:") {
		t.Errorf("the load met errors:\n%s", report)
	}
	if m := regexp.MustCompile(`\| total \| (\d+\.\d+) \|`).FindStringSubmatch(report); m == nil || m[1] == "0.00" {
		t.Errorf("no CPU per order in the report:\n%s", report)
	}
	if !strings.Contains(report, "capacity (highest rate with placed-to-priced p99 < 250ms)") {
		t.Errorf("no capacity line:\n%s", report)
	}
}

// TestPhaseCountsItsOwnOrders: a phase's figures are of the orders it
// placed, whatever happened to the phases before (an order never
// acknowledged, one acknowledged during a later phase). Counting from an
// index into the run's acknowledged orders reported "-1 not priced".
func TestPhaseCountsItsOwnOrders(t *testing.T) {
	t.Parallel()
	acked := func(id string) *loadOrder { return &loadOrder{placed: loadgen.Placed{ID: id}, done: true} }
	for name, tc := range map[string]struct {
		earlier, phase []*loadOrder
		late           []string // earlier orders acknowledged during the phase
		want           []string
	}{
		"an earlier order never acknowledged": {
			earlier: []*loadOrder{acked("a"), {done: true}, acked("b")}, phase: []*loadOrder{acked("c"), acked("d")}, want: []string{"c", "d"}},
		"an earlier order acknowledged late": {
			earlier: []*loadOrder{acked("a"), {}}, late: []string{"late"}, phase: []*loadOrder{acked("c"), {}, acked("d")}, want: []string{"c", "d"}},
		"nothing before": {phase: []*loadOrder{acked("c"), {}}, want: []string{"c"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := &loadRun{errs: map[string]int{}}
			before := &loadPhase{r: r}
			for _, o := range tc.earlier {
				before.add(o)
			}
			p := &loadPhase{r: r}
			for _, o := range tc.phase {
				p.add(o)
			}
			unanswered := slices.DeleteFunc(slices.Clone(tc.earlier), func(o *loadOrder) bool { return o.done })
			for i, id := range tc.late { // the earlier phase's unanswered orders are answered now
				r.mu.Lock()
				unanswered[i].placed, unanswered[i].done = loadgen.Placed{ID: id}, true
				r.mu.Unlock()
			}
			if got := orderIDs(p.acked()); !slices.Equal(got, tc.want) {
				t.Errorf("phase's acknowledged orders %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCPUOfEveryProcess: each listed process's CPU counts, replicas started
// in the same 10 ms (process_start_time_seconds alike, as the local
// cluster starts them) included, and a listener that does not answer is
// shown as not read. Grouping the listeners by start time (meant for
// `fabrika dev`, one process behind several) counted one of two such
// replicas.
func TestCPUOfEveryProcess(t *testing.T) {
	metrics := func(cpu float64) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\nprocess_start_time_seconds 1.79666683247e+09\n", cpu)
			cpu += 3
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	admins := []string{"shop-0=" + metrics(1), "shop-1=" + metrics(2), "crm-0=" + down.URL}
	ctx := context.Background()
	cpu0 := readCPU(ctx, admins)
	cpu1 := readCPU(ctx, admins)
	var out bytes.Buffer
	report(&out, loadConfig{}, nil, []hop{{name: "shipped", n: 1000}}, time.Second, 1000, cpu0, cpu1, ownCPU{load: 2 * time.Second, machine: 9 * time.Second}, nil)
	for _, want := range []string{"| shop-0 | 3.00 |", "| shop-1 | 3.00 |", "| crm-0 | - (its /metrics not read) |", "| total | 6.00 |",
		"| the load itself (fabrika load) | 2.00 |", "| this machine (every process: PostgreSQL, the broker, the load) | 9.00 |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the report:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "but the processes above") {
		t.Errorf("the rest of the machine shown while a process was not read:\n%s", out.String())
	}
	out.Reset()
	report(&out, loadConfig{}, nil, []hop{{name: "shipped", n: 1000}}, time.Second, 1000, cpu0[:2], cpu1[:2], ownCPU{load: 2 * time.Second, machine: 9 * time.Second}, nil)
	if want := "| this machine but the processes above and the load: PostgreSQL, the kernel, the rest | 1.00 |"; !strings.Contains(out.String(), want) {
		t.Errorf("no %q in the report:\n%s", want, out.String())
	}
	out.Reset()
	report(&out, loadConfig{}, nil, []hop{{name: "shipped", n: 1000}}, time.Second, 1000, cpu0, cpu1, ownCPU{load: 2 * time.Second, machine: -1}, nil)
	if strings.Contains(out.String(), "this machine") {
		t.Errorf("the machine's CPU shown when not measured:\n%s", out.String())
	}
}

func TestLoopback(t *testing.T) {
	for u, want := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://localhost:8080": true, "http://[::1]:8080": true,
		"https://fabrika.example.com": false, "http://10.0.0.5:8080": false, "::bad": false,
	} {
		if got := loopback(u); got != want {
			t.Errorf("loopback(%q) = %v, want %v", u, got, want)
		}
	}
}
