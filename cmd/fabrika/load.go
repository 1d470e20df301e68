package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/cmd/internal/loadgen"
	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
)

// loadConfig is what `fabrika load` is told.
type loadConfig struct {
	url, dataDir        string
	gatewayDSN, apiDSN  string
	admin               []string // admin listeners whose /metrics give each process's CPU
	rate, step, maxRate float64
	phase, drain        time.Duration
	bound               time.Duration
	customers, staff    int
	shopShare           float64
}

func loadCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fabrika load", flag.ContinueOnError)
	var c loadConfig
	var admin string
	fs.StringVar(&c.url, "url", env("FABRIKA_LOAD_URL", "http://127.0.0.1:8080"), "the platform's public entry (the gateway or the ingress)")
	fs.StringVar(&c.dataDir, "data-dir", env("FABRIKA_DATA_DIR", "data"), "data directory of `fabrika dev` (the gateway's and mes-api's databases, for the load's staff accounts and API key; the shop's mail folder)")
	fs.StringVar(&c.gatewayDSN, "gateway-dsn", "", "the gateway's database (default FABRIKA_GATEWAY_DSN or <data-dir>/gateway.db)")
	fs.StringVar(&c.apiDSN, "mes-api-dsn", "", "mes-api's database (default FABRIKA_MES_API_DSN or <data-dir>/mes-api.db)")
	fs.StringVar(&admin, "admin", "gateway=http://127.0.0.1:8180,shop=http://127.0.0.1:8181,crm=http://127.0.0.1:8182,mes-calc=http://127.0.0.1:8183,mes-operator=http://127.0.0.1:8184,mes-api=http://127.0.0.1:8185",
		"comma-separated name=URL of admin listeners whose /metrics give each process's CPU seconds (default: `fabrika dev`'s)")
	fs.Float64Var(&c.rate, "rate", 10, "orders per second offered (the first step with -step)")
	fs.Float64Var(&c.step, "step", 0, "step the rate up by this much after each -phase until placed-to-priced p99 passes -bound (0: one phase at -rate)")
	fs.Float64Var(&c.maxRate, "max-rate", 1000, "the highest rate a stepped run offers")
	fs.DurationVar(&c.phase, "phase", 60*time.Second, "how long each rate is offered")
	fs.DurationVar(&c.drain, "drain", 60*time.Second, "how long to wait after a phase for its orders to be priced (and, at the end, shipped)")
	fs.DurationVar(&c.bound, "bound", 250*time.Millisecond, "the placed-to-priced p99 a stepped run must stay under")
	fs.IntVar(&c.customers, "customers", 20, "shop customers signed up for the run")
	fs.IntVar(&c.staff, "staff", 4, "managers confirming and operators producing, each")
	fs.Float64Var(&c.shopShare, "shop-share", 0.5, "the share of orders placed in the shop (the rest through the B2B API)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.rate <= 0 || c.step < 0 || c.shopShare < 0 || c.shopShare > 1 || c.customers < 1 || c.staff < 1 {
		return errors.New("-rate must be > 0, -step >= 0, -shop-share in [0,1], -customers and -staff >= 1")
	}
	for _, a := range strings.Split(admin, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.admin = append(c.admin, a)
		}
	}
	return runLoad(ctx, c, stdout)
}

// loadRun is one run: its users, and every order placed.
type loadRun struct {
	cfg       loadConfig
	client    *loadgen.Client // anonymous browsing and B2B
	customers []string
	apiKey    string
	managers  []*loadgen.Client
	operators []*loadgen.Client

	toConfirm chan string
	toProduce chan string

	mu      sync.Mutex
	orders  []*loadOrder
	errs    map[string]int
	wg      sync.WaitGroup
	shipped atomic.Int64
}

type loadOrder struct {
	first  time.Time
	placed loadgen.Placed
}

func runLoad(ctx context.Context, cfg loadConfig, stdout io.Writer) error {
	r := &loadRun{cfg: cfg, client: loadgen.New(cfg.url), errs: map[string]int{},
		toConfirm: make(chan string, 1<<20), toProduce: make(chan string, 1<<20)}
	if err := r.setUp(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "load: %d customers, %d managers, %d operators against %s\n", len(r.customers), len(r.managers), len(r.operators), cfg.url)
	// The staff stop at the end, leaving what they have not done.
	staffCtx, stopStaff := context.WithCancel(ctx)
	defer stopStaff()
	var managers sync.WaitGroup
	for i := range cfg.staff {
		managers.Add(1)
		r.work(ctx, func() { defer managers.Done(); r.confirm(staffCtx, r.managers[i]) })
		r.work(ctx, func() { r.produce(staffCtx, r.operators[i]) })
	}
	cpu0 := readCPU(ctx, cfg.admin)
	start := time.Now()
	var phases []phaseResult
	for rate := cfg.rate; ; rate += cfg.step {
		p := r.offer(ctx, rate, stdout)
		phases = append(phases, p)
		if cfg.step == 0 || rate+cfg.step > cfg.maxRate || ctx.Err() != nil || p.hops[1].p99 >= cfg.bound || p.unpriced > 0 {
			break
		}
	}
	// The last orders through production and shipping.
	acked := r.acked()
	loadgen.Poll(ctx, cfg.drain, func() error {
		if n := r.shipped.Load(); n < int64(len(acked)) {
			return fmt.Errorf("%d of %d shipped", n, len(acked))
		}
		return nil
	})
	elapsed := time.Since(start)
	cpu1 := readCPU(ctx, cfg.admin)
	stopStaff()
	close(r.toConfirm)
	managers.Wait() // a manager may be handing an order to the operators
	close(r.toProduce)
	r.wg.Wait()
	all := r.hops(ctx, r.acked())
	report(stdout, cfg, phases, all, elapsed, len(acked), cpu0, cpu1, r.errors())
	return nil
}

func (r *loadRun) work(ctx context.Context, f func()) {
	r.wg.Add(1)
	go func() { defer r.wg.Done(); f() }()
}

// setUp makes the run's users: staff accounts in the gateway's database
// and an API client in mes-api's (as `fabrika admin create` and
// `fabrika apiclient create` do), shop customers through the shop's API.
func (r *loadRun) setUp(ctx context.Context) error {
	suffix := hex.EncodeToString(randomBytes(4))
	password := hex.EncodeToString(randomBytes(16))
	gw, err := openMigrated(ctx, "gateway", r.cfg.gatewayDSN, r.cfg.dataDir)
	if err != nil {
		return fmt.Errorf("the gateway's database: %w", err)
	}
	defer gw.Close()
	// Operators are given every workstation, so that the load needs no
	// knowledge of the routings (an operator may ship an order one of whose
	// operations is at a workstation of theirs). Not admins: a production
	// gateway signs admins in only with a second factor.
	var workstations []string
	err = loadgen.Poll(ctx, 30*time.Second, func() error {
		if workstations, err = gateway.Workstations(ctx, gw); err == nil && len(workstations) == 0 {
			err = errors.New("the gateway knows no workstation yet (mes-calc's price list)")
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("the gateway's workstations: %w", err)
	}
	for i := range r.cfg.staff {
		for _, s := range []struct {
			role string
			ws   []string
			to   *[]*loadgen.Client
		}{{identity.RoleManager, nil, &r.managers}, {identity.RoleOperator, workstations, &r.operators}} {
			login := fmt.Sprintf("load.%s%d.%s", s.role, i, suffix)
			if err := gateway.CreateStaff(ctx, gw, login, password, s.role, s.ws); err != nil {
				return fmt.Errorf("staff account for the load: %w", err)
			}
			c := loadgen.New(r.cfg.url)
			if err := c.SignInStaff(ctx, login, password); err != nil {
				return err
			}
			*s.to = append(*s.to, c)
		}
	}
	if r.cfg.shopShare < 1 {
		api, err := openMigrated(ctx, "mes-api", r.cfg.apiDSN, r.cfg.dataDir)
		if err != nil {
			return fmt.Errorf("mes-api's database: %w", err)
		}
		cr, err := mesapi.CreateClient(ctx, api, "Load "+suffix, "", []string{"orders:read", "orders:write"}, 100_000)
		api.Close()
		if err != nil {
			return err
		}
		r.apiKey = cr.Key
	}
	for i := range r.cfg.customers {
		token, err := r.client.SignUpCustomer(ctx, fmt.Sprintf("load%d-%s@example.com", i, suffix), fmt.Sprintf("Load Buyer %d", i),
			password, filepath.Join(r.cfg.dataDir, "mail"))
		if err != nil {
			return err
		}
		r.customers = append(r.customers, token)
	}
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// phaseResult is one rate's figures.
type phaseResult struct {
	rate, achieved  float64
	acked, unpriced int
	hops            []hop
}

// offer places orders at rate for a phase, showing progress, then waits
// for the phase's orders to be priced and measures them.
func (r *loadRun) offer(ctx context.Context, rate float64, stdout io.Writer) phaseResult {
	from := len(r.snapshot())
	pctx, cancel := context.WithTimeout(ctx, r.cfg.phase)
	defer cancel()
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	start := time.Now()
	var n int
	var carry float64
loop:
	for {
		select {
		case <-pctx.Done():
			break loop
		case <-progress.C:
			orders := r.snapshot()[from:]
			acked := 0
			for _, o := range orders {
				if o.placed.ID != "" {
					acked++
				}
			}
			fmt.Fprintf(stdout, "  %5.0fs  offered %.0f/s  placed %d  acknowledged %d  shipped %d  errors %d\n",
				time.Since(start).Seconds(), rate, len(orders), acked, r.shipped.Load(), r.errorCount())
		case <-t.C:
			carry += r.cfg.shopShare
			shop := carry >= 1
			if shop {
				carry--
			}
			n++
			i := n
			o := &loadOrder{first: time.Now()}
			r.mu.Lock()
			r.orders = append(r.orders, o)
			r.mu.Unlock()
			r.work(ctx, func() { r.place(ctx, o, shop, i) })
		}
	}
	orders := r.snapshot()[from:]
	p := phaseResult{rate: rate, achieved: float64(len(orders)) / time.Since(start).Seconds()}
	var ids []string
	for _, o := range orders {
		if o.placed.ID != "" {
			ids = append(ids, o.placed.ID)
		}
	}
	p.acked = len(ids)
	// Wait for the phase's orders to be priced, then read their paths.
	var h []hop
	loadgen.Poll(ctx, r.cfg.drain, func() error {
		h = r.hops(ctx, r.acked()[from:])
		if h[1].n < len(ids) {
			return fmt.Errorf("priced %d of %d", h[1].n, len(ids))
		}
		return nil
	})
	p.hops, p.unpriced = h, len(ids)-h[1].n
	fmt.Fprintf(stdout, "rate %.0f/s offered, %.1f/s placed, %d acknowledged, %d not priced within %s; placed-to-priced p50 %s p99 %s\n",
		rate, p.achieved, p.acked, p.unpriced, r.cfg.drain, ms(h[1].p50), ms(h[1].p99))
	return p
}

// place is one customer's or B2B client's order: a shop customer looks at
// the catalogue and asks for a quote first.
func (r *loadRun) place(ctx context.Context, o *loadOrder, shop bool, n int) {
	ctx = context.WithoutCancel(ctx) // a client keeps retrying after the phase
	giveUp := time.Now().Add(r.cfg.drain)
	if shop {
		token := r.customers[n%len(r.customers)]
		for _, q := range []loadgen.Request{
			{Method: "GET", Path: "/shop/api/v1/catalog"},
			{Method: "POST", Path: "/shop/api/v1/quotes", Body: map[string]any{"product": "laser_cut_sheet", "quantity": 10, "lead": "standard",
				"options": map[string]string{"material": "steel_s235", "width_mm": "200", "height_mm": "100", "thickness_mm": "2", "finish": "powder_coat"}}},
			{Method: "GET", Path: "/shop/api/v1/orders", Bearer: token},
		} {
			r.check(ctx, q)
		}
		o.placed = r.client.Place(ctx, "/shop/api/v1/orders", token, uuid.NewString(), loadgen.ShopOrder(), giveUp, nil)
	} else {
		key := uuid.NewString()
		o.placed = r.client.Place(ctx, "/api/v1/orders", r.apiKey, key, loadgen.APIOrder("PO-"+key[:8]), giveUp, nil)
	}
	if o.placed.Refused != "" {
		r.fail("order refused: " + o.placed.Refused)
	}
	if o.placed.ID != "" {
		r.toConfirm <- o.placed.ID
	}
}

// check sends a request whose answer only counts as an error or not.
func (r *loadRun) check(ctx context.Context, q loadgen.Request) {
	res, err := r.client.Do(ctx, q)
	switch {
	case err != nil:
		r.fail(q.Method + " " + q.Path + ": " + err.Error())
	case res.Code >= 400:
		r.fail(fmt.Sprintf("%s %s: %d", q.Method, q.Path, res.Code))
	}
}

func (r *loadRun) fail(what string) {
	if len(what) > 160 {
		what = what[:160]
	}
	r.mu.Lock()
	r.errs[what]++
	r.mu.Unlock()
}

func (r *loadRun) errorCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.errs {
		n += c
	}
	return n
}

func (r *loadRun) errors() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.errs)
}

func (r *loadRun) snapshot() []loadOrder {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]loadOrder, len(r.orders))
	for i, o := range r.orders {
		out[i] = *o
	}
	return out
}

// acked lists the acknowledged orders, in the order they were placed.
func (r *loadRun) acked() []loadOrder {
	var out []loadOrder
	for _, o := range r.snapshot() {
		if o.placed.ID != "" {
			out = append(out, o)
		}
	}
	return out
}

// confirm is a manager: every acknowledged order, once the CRM shows it
// priced, is confirmed for production with the version read.
func (r *loadRun) confirm(ctx context.Context, m *loadgen.Client) {
	for id := range r.toConfirm {
		if ctx.Err() != nil {
			continue
		}
		err := loadgen.Poll(ctx, r.cfg.drain, func() error {
			res, err := m.Get(ctx, "/crm/api/v1/orders/"+id)
			var o struct {
				Order struct {
					Status  string `json:"status"`
					Version int64  `json:"version"`
				} `json:"order"`
			}
			if err != nil || res.Code != http.StatusOK || json.Unmarshal(res.Body, &o) != nil {
				return fmt.Errorf("CRM order %s: %v %s", id, err, res)
			}
			switch o.Order.Status {
			case contracts.StatusPlaced:
				return errors.New("not priced yet")
			case contracts.StatusPriced:
				res, err := m.Post(ctx, "/crm/api/v1/orders/"+id+"/confirm", map[string]any{"version": o.Order.Version})
				if err != nil || res.Code != http.StatusOK {
					return fmt.Errorf("confirm %s: %v %s", id, err, res)
				}
				return nil
			case contracts.StatusConfirmed, contracts.StatusInProduction:
				return nil
			default:
				return fmt.Errorf("order %s is %s", id, o.Order.Status)
			}
		})
		if err != nil {
			if ctx.Err() == nil { // not the end of the run
				r.fail("manager: " + err.Error())
			}
			continue
		}
		r.toProduce <- id
	}
}

// produce is an operator: the confirmed order's operations, in their
// order, each started and finished with the whole quantity good, then
// shipped.
func (r *loadRun) produce(ctx context.Context, op *loadgen.Client) {
	type operation struct {
		ID       string `json:"id"`
		State    string `json:"state"`
		LineNo   int    `json:"line_no"`
		Seq      int    `json:"seq"`
		Quantity int    `json:"quantity"`
	}
	for id := range r.toProduce {
		if ctx.Err() != nil {
			continue
		}
		err := loadgen.Poll(ctx, r.cfg.drain, func() error {
			res, err := op.Get(ctx, "/mes/api/v1/orders/"+id)
			var o struct {
				Status     string      `json:"status"`
				Operations []operation `json:"operations"`
			}
			if err != nil || res.Code != http.StatusOK || json.Unmarshal(res.Body, &o) != nil {
				return fmt.Errorf("MES order %s: %v %s", id, err, res)
			}
			if o.Status == contracts.StatusShipped {
				return nil
			}
			if o.Status == contracts.StatusProduced {
				res, err := op.Post(ctx, "/mes/api/v1/orders/"+id+"/ship", map[string]any{"event_id": uuid.NewString(), "carrier": "DHL", "tracking_number": "LOAD" + id[:8]})
				if err != nil || res.Code >= 300 {
					return fmt.Errorf("ship %s: %v %s", id, err, res)
				}
				return nil
			}
			slices.SortFunc(o.Operations, func(a, b operation) int { return (a.LineNo-b.LineNo)*1000 + a.Seq - b.Seq })
			for _, x := range o.Operations {
				if x.State != "ready" {
					continue
				}
				for _, a := range []map[string]any{{"action": "start"}, {"action": "finish", "good_qty": x.Quantity}} {
					action := a["action"].(string)
					delete(a, "action")
					a["event_id"] = uuid.NewString()
					if res, err := op.Post(ctx, "/mes/api/v1/operations/"+x.ID+"/"+action, a); err != nil || res.Code >= 300 {
						return fmt.Errorf("%s %s: %v %s", action, x.ID, err, res)
					}
				}
				break
			}
			return errors.New("in production")
		})
		if err != nil {
			if ctx.Err() == nil { // not the end of the run
				r.fail("operator: " + err.Error())
			}
			continue
		}
		r.shipped.Add(1)
	}
}

// hop is one step of an order's path, measured over many orders.
type hop struct {
	name     string
	n        int
	p50, p99 time.Duration
}

// hopEvents are the events that end each hop, in the CRM's timeline (each
// stamped by the service that did the step); the first hop starts at the
// client's first attempt.
var hopEvents = []string{contracts.OrderPlaced, contracts.OrderPriced, contracts.OrderConfirmed, contracts.OrderInProduction, contracts.OrderShipped}

// hops reads each order's timeline from the CRM and measures the hops:
// placed (client to the order.placed event), priced, confirmed, in
// production, shipped (each from the step before).
func (r *loadRun) hops(ctx context.Context, orders []loadOrder) []hop {
	durations := make([][]time.Duration, len(hopEvents))
	var mu sync.Mutex
	work := make(chan loadOrder)
	var wg sync.WaitGroup
	for i := range r.managers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				at := r.timeline(ctx, r.managers[i], o.placed.ID)
				prev := o.first
				mu.Lock()
				for j, ev := range hopEvents {
					t, ok := at[ev]
					if !ok {
						break
					}
					durations[j] = append(durations[j], t.Sub(prev))
					prev = t
				}
				mu.Unlock()
			}
		}()
	}
	for _, o := range orders {
		work <- o
	}
	close(work)
	wg.Wait()
	out := make([]hop, len(hopEvents))
	for j, ev := range hopEvents {
		out[j] = hop{name: strings.TrimPrefix(ev, "order."), n: len(durations[j]), p50: percentile(durations[j], 0.5), p99: percentile(durations[j], 0.99)}
	}
	return out
}

// timeline is when each event of an order happened, by the CRM's timeline.
func (r *loadRun) timeline(ctx context.Context, c *loadgen.Client, id string) map[string]time.Time {
	res, err := c.Get(ctx, "/crm/api/v1/orders/"+id)
	var card struct {
		Timeline []struct {
			Type string    `json:"type"`
			At   time.Time `json:"at"`
		} `json:"timeline"`
	}
	if err != nil || res.Code != http.StatusOK || json.Unmarshal(res.Body, &card) != nil {
		return nil
	}
	at := map[string]time.Time{}
	for _, e := range card.Timeline {
		if _, seen := at[e.Type]; !seen {
			at[e.Type] = e.At
		}
	}
	return at
}

func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// cpuSample is a process's CPU seconds, by the process it belongs to.
type cpuSample struct {
	name    string
	process string // process_start_time_seconds: the same process serves several admin listeners in `fabrika dev`
	seconds float64
}

// readCPU reads process_cpu_seconds_total from each admin listener's
// /metrics (Prometheus' process collector).
func readCPU(ctx context.Context, admins []string) []cpuSample {
	var out []cpuSample
	for _, a := range admins {
		name, u, ok := strings.Cut(a, "=")
		if !ok {
			name, u = a, a
		}
		req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(u, "/")+"/metrics", nil)
		if err != nil {
			continue
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		s := cpuSample{name: name}
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "process_cpu_seconds_total "); ok {
				s.seconds, _ = strconv.ParseFloat(v, 64)
			}
			if v, ok := strings.CutPrefix(line, "process_start_time_seconds "); ok {
				s.process = v
			}
		}
		res.Body.Close()
		out = append(out, s)
	}
	return out
}

func report(w io.Writer, cfg loadConfig, phases []phaseResult, all []hop, elapsed time.Duration, orders int, cpu0, cpu1 []cpuSample, errs map[string]int) {
	fmt.Fprintf(w, "\n## fabrika load: %s, %d phase(s), %s\n\n", cfg.url, len(phases), elapsed.Round(time.Second))
	fmt.Fprintln(w, "| offered /s | placed /s | acknowledged | not priced | placed-to-priced p50 | p99 |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	capacity := 0.0
	for _, p := range phases {
		fmt.Fprintf(w, "| %.0f | %.1f | %d | %d | %s | %s |\n", p.rate, p.achieved, p.acked, p.unpriced, ms(p.hops[1].p50), ms(p.hops[1].p99))
		if p.unpriced == 0 && p.hops[1].p99 < cfg.bound {
			capacity = max(capacity, p.achieved)
		}
	}
	fmt.Fprintf(w, "\ncapacity (highest rate with placed-to-priced p99 < %s): %.1f orders/s\n\n", cfg.bound, capacity)
	fmt.Fprintln(w, "| hop (from the step before) | orders | p50 | p99 |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, h := range all {
		fmt.Fprintf(w, "| %s | %d | %s | %s |\n", h.name, h.n, ms(h.p50), ms(h.p99))
	}
	fmt.Fprintf(w, "\nCPU per order (%d orders acknowledged):\n\n| process | CPU-ms per order |\n|---|---|\n", orders)
	seen := map[string]bool{}
	var total float64
	for i, s := range cpu1 {
		if i >= len(cpu0) || orders == 0 || s.process == "" || seen[s.process] {
			continue
		}
		seen[s.process] = true
		var names []string
		for _, t := range cpu1 {
			if t.process == s.process {
				names = append(names, t.name)
			}
		}
		per := (s.seconds - cpu0[i].seconds) * 1000 / float64(orders)
		total += per
		fmt.Fprintf(w, "| %s | %.2f |\n", strings.Join(names, ", "), per)
	}
	fmt.Fprintf(w, "| total | %.2f |\n", total)
	if len(errs) > 0 {
		fmt.Fprintln(w, "\nerrors:")
		keys := make([]string, 0, len(errs))
		for k := range errs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %d x %s\n", errs[k], k)
		}
	}
}
