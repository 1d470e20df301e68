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
	"hash/fnv"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
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
	"github.com/fabrika/fabrika/platform/cputime"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
)

// loadConfig is what `fabrika load` is told.
type loadConfig struct {
	url, dataDir        string
	natsURL             string
	gatewayDSN, apiDSN  string
	admin               []string // admin listeners whose /metrics give each process's CPU
	rate, step, maxRate float64
	phase, drain        time.Duration
	bound               time.Duration
	customers, staff    int
	operators           int // per workstation; 0: as the rate needs (operatorsFor)
	shopShare           float64
}

func loadCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fabrika load", flag.ContinueOnError)
	var c loadConfig
	var admin string
	fs.StringVar(&c.url, "url", env("FABRIKA_LOAD_URL", "http://127.0.0.1:8080"), "the platform's public entry (the gateway or the ingress)")
	fs.StringVar(&c.natsURL, "nats-url", env("FABRIKA_NATS_URL", "nats://127.0.0.1:4222"), "the platform's broker, whose order events time each order's path (`fabrika dev --nats-listen 127.0.0.1:4222`)")
	fs.StringVar(&c.dataDir, "data-dir", env("FABRIKA_DATA_DIR", "data"), "data directory of `fabrika dev` (the gateway's and mes-api's databases, for the load's staff accounts and API key; the shop's mail folder)")
	fs.StringVar(&c.gatewayDSN, "gateway-dsn", "", "the gateway's database (default FABRIKA_GATEWAY_DSN or <data-dir>/gateway.db)")
	fs.StringVar(&c.apiDSN, "mes-api-dsn", "", "mes-api's database (default FABRIKA_MES_API_DSN or <data-dir>/mes-api.db)")
	fs.StringVar(&admin, "admin", "fabrika-dev=http://127.0.0.1:8180",
		"comma-separated name=URL of admin listeners, one of each process, whose /metrics give its CPU seconds (default: `fabrika dev`'s, one process for every service; its CPU profile splits it by service)")
	fs.Float64Var(&c.rate, "rate", 10, "orders per second offered (the first step with -step)")
	fs.Float64Var(&c.step, "step", 0, "step the rate up by this much after each -phase until placed-to-priced p99 passes -bound (0: one phase at -rate)")
	fs.Float64Var(&c.maxRate, "max-rate", 1000, "the highest rate a stepped run offers")
	fs.DurationVar(&c.phase, "phase", 60*time.Second, "how long each rate is offered")
	fs.DurationVar(&c.drain, "drain", 60*time.Second, "how long to wait after a phase for its orders to be priced (and, at the end, shipped)")
	fs.DurationVar(&c.bound, "bound", 250*time.Millisecond, "the placed-to-priced p99 a stepped run must stay under")
	fs.IntVar(&c.customers, "customers", 20, "shop customers signed up for the run, each from its own address (X-Forwarded-For: start the gateway with FABRIKA_TRUSTED_PROXIES=127.0.0.1)")
	fs.IntVar(&c.staff, "staff", 4, "managers confirming orders")
	fs.IntVar(&c.operators, "operators", 0, "operators at each workstation, working its queue (0: one per 50 orders/s of the highest rate offered, -rate or -max-rate when stepping, 2 to 8)")
	fs.Float64Var(&c.shopShare, "shop-share", 0.5, "the share of orders placed in the shop (the rest through the B2B API)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.rate <= 0 || c.step < 0 || c.shopShare < 0 || c.shopShare > 1 || c.customers < 1 || c.staff < 1 || c.operators < 0 {
		return errors.New("-rate must be > 0, -step >= 0, -shop-share in [0,1], -customers and -staff >= 1, -operators >= 0")
	}
	if c.operators == 0 {
		highest := c.rate
		if c.step > 0 {
			highest = c.maxRate
		}
		c.operators = operatorsFor(highest)
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
	customers []loadCustomer
	apiKey    string
	managers  []*loadgen.Client
	operators []loadOperator

	events *loadgen.Events

	mu     sync.Mutex
	orders []*loadOrder
	ours   map[string]bool // the ids of the orders acknowledged
	errs   map[string]int
	wg     sync.WaitGroup
}

// loadCustomer is a shop customer: a session, and a client at the
// customer's own address.
type loadCustomer struct {
	token  string
	client *loadgen.Client
}

type loadOrder struct {
	first  time.Time
	placed loadgen.Placed // set under loadRun.mu once answered
	done   bool           // answered, or given up
}

// loadPhase is the orders one rate placed.
type loadPhase struct {
	r      *loadRun
	orders []*loadOrder
}

// acked lists the phase's acknowledged orders, in the order they were
// placed: its own orders, whichever phase they are acknowledged in.
func (p *loadPhase) acked() []loadOrder { return p.r.ackedOf(p.orders) }

// add places an order in the phase (and the run).
func (p *loadPhase) add(o *loadOrder) {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	p.r.orders = append(p.r.orders, o)
	p.orders = append(p.orders, o)
}

func runLoad(ctx context.Context, cfg loadConfig, stdout io.Writer) error {
	r := &loadRun{cfg: cfg, client: loadgen.New(cfg.url), ours: map[string]bool{}, errs: map[string]int{}}
	events, err := loadgen.Watch(ctx, cfg.natsURL, hopEvents...)
	if err != nil {
		return err
	}
	defer events.Close()
	r.events = events
	if err := r.setUp(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "load: %d customers, %d managers, %d operators (%d at each workstation) against %s\n",
		len(r.customers), len(r.managers), len(r.operators), cfg.operators, cfg.url)
	// The staff stop at the end, leaving what they have not done.
	staffCtx, stopStaff := context.WithCancel(ctx)
	defer stopStaff()
	r.work(ctx, func() { r.manage(staffCtx) })
	for _, o := range r.operators {
		r.work(ctx, func() { r.operate(staffCtx, o) })
	}
	cpu0 := readCPU(ctx, cfg.admin)
	machine0, machineErr := cputime.Machine()
	self0 := cputime.Process()
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
	acked := r.ackedOf(r.all())
	ids := orderIDs(acked)
	loadgen.Poll(ctx, cfg.drain, func() error {
		if n := r.events.Count(ids, contracts.OrderShipped); n < len(ids) {
			return fmt.Errorf("%d of %d shipped", n, len(ids))
		}
		return nil
	})
	elapsed := time.Since(start)
	cpu1 := readCPU(ctx, cfg.admin)
	machine1, err := cputime.Machine()
	own := ownCPU{load: cputime.Process() - self0, machine: machine1 - machine0}
	if machineErr != nil || err != nil || !loopback(cfg.url) {
		own.machine = -1 // not this machine's platform, or not Linux
	}
	stopStaff()
	r.wg.Wait()
	all := r.hops(acked)
	report(stdout, cfg, phases, all, elapsed, len(acked), cpu0, cpu1, own, r.errors())
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
	// Operators work at one workstation each, -operators of them at every
	// workstation the gateway knows (from mes-calc's price list), so that
	// the load needs no knowledge of the routings. Not admins: a production
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
	type account struct {
		login, role string
		ws          []string
	}
	var accounts []account
	for i := range r.cfg.staff {
		accounts = append(accounts, account{fmt.Sprintf("load.manager%d.%s", i, suffix), identity.RoleManager, nil})
	}
	for _, ws := range workstations {
		for i := range r.cfg.operators {
			accounts = append(accounts, account{fmt.Sprintf("load.operator.%s.%d.%s", ws, i, suffix), identity.RoleOperator, []string{ws}})
			r.operators = append(r.operators, loadOperator{workstation: ws, share: i, team: r.cfg.operators})
		}
	}
	// Each staff member signs in from their own address (the gateway limits
	// sign-in attempts per address), a few at a time: a password hash each.
	clients := make([]*loadgen.Client, len(accounts))
	errs := make([]error, len(accounts))
	var wg sync.WaitGroup
	slots := make(chan struct{}, 4)
	for i, a := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			if err := gateway.CreateStaff(ctx, gw, a.login, password, a.role, a.ws); err != nil {
				errs[i] = fmt.Errorf("staff account for the load: %w", err)
				return
			}
			c := loadgen.New(r.cfg.url)
			c.ForwardedFor(fmt.Sprintf("10.19.%d.%d", i>>8&0xff, i&0xff))
			errs[i] = c.SignInStaff(ctx, a.login, password)
			clients[i] = c
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.managers = clients[:r.cfg.staff]
	for i := range r.operators {
		r.operators[i].client = clients[r.cfg.staff+i]
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
		// Each customer at its own address, as customers are: the shop
		// limits sign-ups per address (the gateway believes the address
		// from a trusted proxy only: FABRIKA_TRUSTED_PROXIES).
		c := r.client.From(fmt.Sprintf("10.%d.%d.%d", 20+i>>16&0xff, i>>8&0xff, i&0xff))
		token, err := c.SignUpCustomer(ctx, fmt.Sprintf("load%d-%s@example.com", i, suffix), fmt.Sprintf("Load Buyer %d", i),
			password, filepath.Join(r.cfg.dataDir, "mail"))
		if err != nil {
			if strings.Contains(err.Error(), " 429 ") {
				err = fmt.Errorf("%w (is the gateway told to trust the load's X-Forwarded-For? FABRIKA_TRUSTED_PROXIES=127.0.0.1)", err)
			}
			return fmt.Errorf("customer %d: %w", i, err)
		}
		r.customers = append(r.customers, loadCustomer{token: token, client: c})
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
	ph := &loadPhase{r: r}
	pctx, cancel := context.WithTimeout(ctx, r.cfg.phase)
	defer cancel()
	var placed atomic.Int64
	stopProgress := r.showProgress(pctx, rate, ph, &placed, stdout)
	sched := loadgen.NewSchedule(rate)
	start := time.Now()
	var n int
	var carry float64
	for ; ; n++ {
		if _, ok := sched.Wait(pctx, n); !ok {
			break
		}
		carry += r.cfg.shopShare
		shop := carry >= 1
		if shop {
			carry--
		}
		i := n + 1
		o := &loadOrder{first: time.Now()}
		ph.add(o)
		placed.Store(int64(i))
		r.work(ctx, func() { r.place(ctx, o, shop, i) })
	}
	stopProgress()
	p := phaseResult{rate: rate, achieved: float64(n) / time.Since(start).Seconds()}
	// Wait for the phase's orders to be priced (an order still being placed
	// counts once acknowledged), then measure their paths.
	var acked []loadOrder
	loadgen.Poll(ctx, r.cfg.drain, func() error {
		acked = ph.acked()
		ids := orderIDs(acked)
		if priced := r.events.Count(ids, contracts.OrderPriced); priced < len(ids) || r.placing(ph.orders) {
			return fmt.Errorf("priced %d of %d", priced, len(ids))
		}
		return nil
	})
	h := r.hops(acked)
	p.acked, p.hops, p.unpriced = len(acked), h, len(acked)-h[1].n
	fmt.Fprintf(stdout, "rate %.0f/s offered, %.1f/s placed, %d acknowledged, %d not priced within %s; placed-to-priced p50 %s p99 %s\n",
		rate, p.achieved, p.acked, p.unpriced, r.cfg.drain, ms(h[1].p50), ms(h[1].p99))
	return p
}

// showProgress prints the phase's progress every 5 s until ctx ends or
// the returned stop is called.
func (r *loadRun) showProgress(ctx context.Context, rate float64, ph *loadPhase, placed *atomic.Int64, stdout io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ids := orderIDs(ph.acked())
			fmt.Fprintf(stdout, "  %5.0fs  offered %.0f/s  placed %d  acknowledged %d  priced %d  errors %d\n",
				time.Since(start).Seconds(), rate, placed.Load(), len(ids), r.events.Count(ids, contracts.OrderPriced), r.errorCount())
		}
	}()
	return func() { cancel(); <-done }
}

// place is one customer's or B2B client's order: a shop customer looks at
// the catalogue and asks for a quote first.
func (r *loadRun) place(ctx context.Context, o *loadOrder, shop bool, n int) {
	ctx = context.WithoutCancel(ctx) // a client keeps retrying after the phase
	giveUp := time.Now().Add(r.cfg.drain)
	var placed loadgen.Placed
	if shop {
		cu := r.customers[n%len(r.customers)]
		token, client := cu.token, cu.client
		for _, q := range []loadgen.Request{
			{Method: "GET", Path: "/shop/api/v1/catalog"},
			{Method: "POST", Path: "/shop/api/v1/quotes", Body: map[string]any{"product": "laser_cut_sheet", "quantity": 10, "lead": "standard",
				"options": map[string]string{"material": "steel_s235", "width_mm": "200", "height_mm": "100", "thickness_mm": "2", "finish": "powder_coat"}}},
			{Method: "GET", Path: "/shop/api/v1/orders", Bearer: token},
		} {
			r.check(ctx, client, q)
		}
		placed = client.Place(ctx, "/shop/api/v1/orders", token, uuid.NewString(), loadgen.ShopOrder(), giveUp, nil)
	} else {
		key := uuid.NewString()
		placed = r.client.Place(ctx, "/api/v1/orders", r.apiKey, key, loadgen.APIOrder("PO-"+key[:8]), giveUp, nil)
	}
	if placed.Refused != "" {
		r.fail("order refused: " + placed.Refused)
	}
	r.mu.Lock()
	o.placed, o.done = placed, true
	if placed.ID != "" {
		r.ours[placed.ID] = true
	}
	r.mu.Unlock()
}

// check sends a request whose answer only counts as an error or not.
func (r *loadRun) check(ctx context.Context, c *loadgen.Client, q loadgen.Request) {
	res, err := c.Do(ctx, q)
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

// all is every order of the run.
func (r *loadRun) all() []*loadOrder {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.orders)
}

// ackedOf lists the acknowledged orders of orders, in their order.
func (r *loadRun) ackedOf(orders []*loadOrder) []loadOrder {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []loadOrder
	for _, o := range orders {
		if o.placed.ID != "" {
			out = append(out, *o)
		}
	}
	return out
}

// placing says whether a client is still placing one of orders.
func (r *loadRun) placing(orders []*loadOrder) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range orders {
		if !o.done {
			return true
		}
	}
	return false
}

func orderIDs(orders []loadOrder) []string {
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.placed.ID
	}
	return ids
}

// manage is the managers' team: they work the CRM's list of priced
// orders, oldest first, a page at a time; each opens an order of the run
// (its card: what the customer asked for, and the version to confirm) and
// confirms it for production. Orders of the run only: a load leaves the
// rest of the platform's orders to their managers.
func (r *loadRun) manage(ctx context.Context) {
	ours := map[string]bool{} // this run's orders not confirmed yet by a manager
	for ctx.Err() == nil {
		for _, o := range r.ackedOf(r.all()) {
			if _, seen := ours[o.placed.ID]; !seen {
				ours[o.placed.ID] = true
			}
		}
		page := r.pricedPage(ctx, ours)
		if len(page) == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond): // a manager looks at the list again a moment later
			}
			continue
		}
		work := make(chan string)
		var wg sync.WaitGroup
		for _, m := range r.managers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range work {
					if err := r.confirm(ctx, m, id); err != nil && ctx.Err() == nil { // not the end of the run
						r.fail("manager: " + err.Error())
					}
				}
			}()
		}
		for _, id := range page {
			ours[id] = false
			work <- id
		}
		close(work)
		wg.Wait()
	}
}

// pricedPage reads the CRM's list of priced orders, oldest first, page by
// page until one holds orders of the run a manager has not confirmed
// (ours[id] true), and returns those.
func (r *loadRun) pricedPage(ctx context.Context, ours map[string]bool) []string {
	m := r.managers[0]
	cursor := ""
	for {
		path := "/crm/api/v1/orders?status=" + contracts.StatusPriced + "&dir=asc&limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		res, err := m.Get(ctx, path)
		var page struct {
			Orders []struct {
				ID string `json:"id"`
			} `json:"orders"`
			Next string `json:"next_cursor"`
		}
		if err != nil || res.Code != http.StatusOK || json.Unmarshal(res.Body, &page) != nil {
			if ctx.Err() == nil {
				r.fail(fmt.Sprintf("manager: CRM list of priced orders: %v %s", err, res))
			}
			return nil
		}
		var ids []string
		for _, o := range page.Orders {
			if ours[o.ID] {
				ids = append(ids, o.ID)
			}
		}
		if len(ids) > 0 || page.Next == "" {
			return ids
		}
		cursor = page.Next
	}
}

// confirm is a manager confirming a priced order with the version read
// from its card.
func (r *loadRun) confirm(ctx context.Context, m *loadgen.Client, id string) error {
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
	if o.Order.Status != contracts.StatusPriced {
		return fmt.Errorf("order %s in the list of priced orders is %s", id, o.Order.Status)
	}
	res, err = m.Post(ctx, "/crm/api/v1/orders/"+id+"/confirm", map[string]any{"version": o.Order.Version})
	if err != nil || res.Code != http.StatusOK {
		return fmt.Errorf("confirm %s: %v %s", id, err, res)
	}
	return nil
}

// operatorsFor is how many operators each workstation needs at rate
// orders/s: an operator starts and finishes an operation in two requests
// (a few ms each on a quiet machine, more when it is loaded), and every
// order of the load passes the busiest workstations once.
func operatorsFor(rate float64) int {
	return min(8, max(2, int(math.Ceil(rate/50))))
}

// loadOperator is an operator at a workstation. Its team (the operators of
// the workstation) shares the queue by order, as a team does so that no two
// take the same card: each takes the orders whose id hashes to its share.
type loadOperator struct {
	client      *loadgen.Client
	workstation string
	share, team int
}

// takes says whether an order is the operator's to work on.
func (o loadOperator) takes(orderID string) bool {
	h := fnv.New32a()
	h.Write([]byte(orderID))
	return int(h.Sum32()%uint32(o.team)) == o.share
}

// queuedOperation is an operation as a workstation's queue lists it.
type queuedOperation struct {
	ID       string `json:"id"`
	OrderID  string `json:"order_id"`
	State    string `json:"state"`
	Quantity int    `json:"quantity"`
}

// operate is an operator working a workstation's queue as its tablet shows
// it (GET /mes/api/v1/workstations/{ws}/queue, in priority order): the
// ready operations of their share, each started and finished with the whole
// quantity good, and, when that finish produced the order, the order shipped
// (an operator of a workstation of the order's routing may ship it). They
// read the queue again once they have worked through what it showed, and
// wait a moment (50 ms, doubling to 1 s) while it shows them nothing to do.
// Orders of the run only: the load leaves the platform's other orders to
// their operators.
func (r *loadRun) operate(ctx context.Context, o loadOperator) {
	const least, most = 50 * time.Millisecond, time.Second
	wait := least
	for ctx.Err() == nil {
		worked, err := r.workQueue(ctx, o)
		if err != nil && ctx.Err() == nil { // not the end of the run
			r.fail("operator: " + err.Error())
		}
		if worked > 0 {
			wait = least
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, most)
	}
}

// workQueue reads the operator's queue once and works through what it
// shows them; it returns how many operations they finished.
func (r *loadRun) workQueue(ctx context.Context, o loadOperator) (int, error) {
	res, err := o.client.Get(ctx, "/mes/api/v1/workstations/"+url.PathEscape(o.workstation)+"/queue")
	var q struct {
		Operations []queuedOperation `json:"operations"`
	}
	if err != nil || res.Code != http.StatusOK || json.Unmarshal(res.Body, &q) != nil {
		return 0, fmt.Errorf("queue of %s: %v %s", o.workstation, err, res)
	}
	n := 0
	for _, x := range q.Operations {
		// A running one of their share is theirs: started before a
		// failure that left it unfinished.
		if (x.State != "ready" && x.State != "running") || !o.takes(x.OrderID) || !r.isOurs(x.OrderID) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if x.State == "ready" {
			if _, err := r.act(ctx, o.client, "/mes/api/v1/operations/"+x.ID+"/start", map[string]any{}); err != nil {
				return n, err
			}
		}
		done, err := r.act(ctx, o.client, "/mes/api/v1/operations/"+x.ID+"/finish", map[string]any{"good_qty": x.Quantity})
		if err != nil {
			return n, err
		}
		n++
		var result struct {
			Order struct {
				Status string `json:"status"`
			} `json:"order"`
		}
		if json.Unmarshal(done.Body, &result) == nil && result.Order.Status == contracts.StatusProduced {
			if _, err := r.act(ctx, o.client, "/mes/api/v1/orders/"+x.OrderID+"/ship",
				map[string]any{"carrier": "DHL", "tracking_number": "LOAD" + x.OrderID[:8]}); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// act posts an operator's action with a fresh event id, and posts it again
// with the same id while the answer leaves the outcome unknown (no answer,
// 5xx, 429), as the tablet does: the platform applies it once.
func (r *loadRun) act(ctx context.Context, c *loadgen.Client, path string, body map[string]any) (loadgen.Reply, error) {
	body["event_id"] = uuid.NewString()
	var res loadgen.Reply
	var final error
	err := loadgen.Poll(ctx, r.cfg.drain, func() error {
		var err error
		res, err = c.Post(ctx, path, body)
		switch {
		case err != nil:
			return err
		case res.Code >= 500 || res.Code == http.StatusTooManyRequests:
			return fmt.Errorf("%s", res)
		case res.Code >= 300:
			final = fmt.Errorf("%s: %s", path, res)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	return res, final
}

// isOurs says whether an order is one the run placed.
func (r *loadRun) isOurs(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ours[id]
}

// hop is one step of an order's path, measured over many orders.
type hop struct {
	name     string
	n        int
	p50, p99 time.Duration
}

// hopEvents are the events that end each hop, each stamped by the service
// that did the step; the first hop starts at the client's first attempt.
var hopEvents = []string{contracts.OrderPlaced, contracts.OrderPriced, contracts.OrderConfirmed, contracts.OrderInProduction, contracts.OrderShipped}

// hops measures the orders' hops from their events: placed (client to the
// order.placed event), priced, confirmed, in production, shipped (each
// from the step before).
func (r *loadRun) hops(orders []loadOrder) []hop {
	times := r.events.Times(orderIDs(orders))
	durations := make([][]time.Duration, len(hopEvents))
	for _, o := range orders {
		at := times[o.placed.ID]
		prev := o.first
		for j, ev := range hopEvents {
			t, ok := at[ev]
			if !ok {
				break
			}
			durations[j] = append(durations[j], t.Sub(prev))
			prev = t
		}
	}
	out := make([]hop, len(hopEvents))
	for j, ev := range hopEvents {
		out[j] = hop{name: strings.TrimPrefix(ev, "order."), n: len(durations[j]), p50: percentile(durations[j], 0.5), p99: percentile(durations[j], 0.99)}
	}
	return out
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

// cpuSample is the CPU seconds a process had used, read from its admin
// listener (name); ok is false when it could not be read.
type cpuSample struct {
	name    string
	seconds float64
	ok      bool
}

// readCPU reads process_cpu_seconds_total from each admin listener's
// /metrics (Prometheus' process collector), in the order given.
func readCPU(ctx context.Context, admins []string) []cpuSample {
	out := make([]cpuSample, len(admins))
	for i, a := range admins {
		name, u, ok := strings.Cut(a, "=")
		if !ok {
			name, u = a, a
		}
		out[i] = cpuSample{name: name}
		req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(u, "/")+"/metrics", nil)
		if err != nil {
			continue
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			if v, found := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); found {
				out[i].seconds, err = strconv.ParseFloat(v, 64)
				out[i].ok = err == nil
			}
		}
		res.Body.Close()
	}
	return out
}

// loopback tells whether the platform at u runs on this machine.
func loopback(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	if p.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(p.Hostname())
	return ip != nil && ip.IsLoopback()
}

// ownCPU is the CPU time the load used over its phases, and the whole
// machine's (negative: not measured, the platform runs elsewhere).
type ownCPU struct {
	load, machine time.Duration
}

// report writes the load's figures.
func report(w io.Writer, cfg loadConfig, phases []phaseResult, all []hop, elapsed time.Duration, orders int, cpu0, cpu1 []cpuSample, own ownCPU, errs map[string]int) {
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
	fmt.Fprintf(w, "\nCPU per order (%d orders acknowledged, %d shipped by the end: the CPU of the steps not done is not in it; `fabrika dev` is one process for every service, whose CPU profile splits it by service: go tool pprof -tags):\n\n| process | CPU-ms per order |\n|---|---|\n",
		orders, all[len(all)-1].n)
	var total float64
	read := true
	for i, s := range cpu1 {
		if orders == 0 || i >= len(cpu0) {
			break
		}
		if !s.ok || !cpu0[i].ok {
			read = false
			fmt.Fprintf(w, "| %s | - (its /metrics not read) |\n", s.name)
			continue
		}
		per := (s.seconds - cpu0[i].seconds) * 1000 / float64(orders)
		total += per
		fmt.Fprintf(w, "| %s | %.2f |\n", s.name, per)
	}
	fmt.Fprintf(w, "| total | %.2f |\n", total)
	if orders > 0 {
		perOrder := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(orders) }
		fmt.Fprintf(w, "| the load itself (fabrika load) | %.2f |\n", perOrder(own.load))
		if own.machine >= 0 {
			fmt.Fprintf(w, "| this machine (every process: PostgreSQL, the broker, the load) | %.2f |\n", perOrder(own.machine))
			if read {
				fmt.Fprintf(w, "| this machine but the processes above and the load: PostgreSQL, the kernel, the rest | %.2f |\n",
					perOrder(own.machine)-total-perOrder(own.load))
			}
		}
	}
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
