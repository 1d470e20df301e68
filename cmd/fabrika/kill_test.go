package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/cmd/internal/logtail"
	"github.com/fabrika/fabrika/cmd/internal/proc"
	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/broker"
)

// binary builds ./cmd/fabrika once per test binary run.
var binary struct {
	once sync.Once
	path string
	err  error
}

func fabrikaBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "fabrika-e2e-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "fabrika")
		if runtime.GOOS == "windows" {
			binary.path += ".exe"
		}
		cmd := exec.Command("go", "build", "-o", binary.path, ".")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			binary.err = fmt.Errorf("go build ./cmd/fabrika: %v\n%s", err, out.String())
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// startFabrika starts the binary on a data dir (cmd/internal/proc); its
// output is appended to logPath. It is stopped when the test ends.
func startFabrika(t *testing.T, bin string, env, args []string, logPath string) *proc.Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p, err := proc.Start("fabrika", cmd, logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !p.Exited() && !p.Stop(30*time.Second) {
			t.Errorf("fabrika did not stop within 30s of SIGTERM; ended with SIGQUIT (its goroutines are in %s)", logPath)
		}
	})
	return p
}

// placed is one shop order the platform answered.
type placed struct {
	id, key string
}

// TestKillMinus9WholeProcess is issue 3's test 9 on the real binary: a stream
// of shop orders through the gateway, `kill -9` of the whole `fabrika dev`
// process (embedded broker inside) in the middle of it, a restart on the same
// data, more orders; then every order the shop acknowledged is in the CRM
// exactly once, priced exactly once.
func TestKillMinus9WholeProcess(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the whole platform twice")
	}
	start := time.Now()
	bin := fabrikaBinary(t)
	t.Logf("binary ready after %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	natsURL := externalNATS(t)
	dsns := serviceDSNs(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "fabrika.log")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("fabrika log (tail):\n%s", logtail.Tail(logPath, 12000))
		}
	})
	base := freeBasePort(t, 14) // 6 application ports, NATS, 6 admin ports
	var env []string
	for svc, dsn := range dsns {
		env = append(env, dsnEnv(svc)+"="+dsn)
	}
	args := []string{"dev", "--data-dir", filepath.Join(dir, "data"), "--base-port", strconv.Itoa(base), "--admin-base-port", strconv.Itoa(base + 8), "--log-level", "warn"}
	if natsURL != "" {
		args = append(args, "--nats-url", natsURL)
	} else {
		// The embedded broker also listens, for the test to read the stream.
		natsURL = "nats://127.0.0.1:" + strconv.Itoa(base+7)
		args = append(args, "--nats-listen", "127.0.0.1:"+strconv.Itoa(base+7))
	}

	// A manager to read the CRM, made with the platform's own command.
	admin := exec.Command(bin, "admin", "create", "--login", "mia.manager", "--role", "manager", "--data-dir", filepath.Join(dir, "data"))
	admin.Env = append(append(os.Environ(), env...), "FABRIKA_ADMIN_PASSWORD="+staffPassword)
	if out, err := admin.CombinedOutput(); err != nil {
		t.Fatalf("fabrika admin create: %v\n%s", err, out)
	}

	public := "http://127.0.0.1:" + strconv.Itoa(base)
	first := startFabrika(t, bin, env, args, logPath)
	waitShop := func(p *proc.Proc, what string) {
		probe := newClient(t, public)
		eventually(t, 90*time.Second, what, func() (bool, string) {
			if p.Exited() {
				t.Fatalf("fabrika exited: %v\n%s", p.Err(), p.Tail(8000))
			}
			res := probe.get("/shop/api/v1/catalog")
			return res.code == 200, res.String()
		})
	}
	waitShop(first, "the first run's shop with a price list")

	// Customers order from several goroutines. Each request is retried with
	// its Idempotency-Key until the platform answers it, as a careful client
	// does, so that every order the shop made is known here.
	const customers = 6
	var (
		mu       sync.Mutex
		orders   []placed
		answered atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		failures atomic.Int64
	)
	clients := make([]*client, customers)
	for i := range clients {
		clients[i] = newClient(t, public)
		clients[i].http.Timeout = 10 * time.Second
		clients[i].shopSignUp("Buyer" + strconv.Itoa(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				key, body := uuid.NewString(), shopOrder()
				for {
					res, err := c.try("POST", "/shop/api/v1/orders", body, map[string]string{"Idempotency-Key": key})
					if err == nil && (res.code == http.StatusCreated || res.code == http.StatusOK) {
						var o struct {
							ID string `json:"id"`
						}
						if json.Unmarshal(res.body, &o) != nil || o.ID == "" {
							t.Errorf("order answer without id: %s", res)
							return
						}
						mu.Lock()
						orders = append(orders, placed{id: o.ID, key: key})
						mu.Unlock()
						answered.Add(1)
						break
					}
					if err == nil && res.code < 500 && res.code != http.StatusConflict && res.code != http.StatusTooManyRequests {
						t.Errorf("order refused: %s", res)
						return
					}
					failures.Add(1)
					if ctx.Err() != nil {
						t.Errorf("order %s never answered: %v %s", key, err, res)
						return
					}
					time.Sleep(50 * time.Millisecond) // the client's pause before it retries: load, not a wait
				}
			}
		}()
	}
	waitAnswered := func(n int64, what string) {
		eventually(t, 60*time.Second, what, func() (bool, string) {
			return answered.Load() >= n, fmt.Sprintf("%d answered", answered.Load())
		})
	}
	waitAnswered(60, "60 orders in the first run")

	// kill -9 in the middle of the stream.
	first.Kill()
	atKill := answered.Load()
	t.Logf("killed after %d answered orders, %s after the first start", atKill, time.Since(start).Round(time.Millisecond))

	second := startFabrika(t, bin, env, args, logPath)
	waitShop(second, "the restarted shop")
	t.Logf("restarted shop answers %s after the first start", time.Since(start).Round(time.Millisecond))
	waitAnswered(atKill+30, "30 more orders after the restart")
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	byID := map[string]string{}
	for _, o := range orders {
		if k, dup := byID[o.id]; dup {
			t.Errorf("two keys %s and %s answered with order %s", k, o.key, o.id)
		}
		byID[o.id] = o.key
	}
	t.Logf("%d orders answered (%d before the kill), %d failed attempts retried", len(byID), atKill, failures.Load())

	// Every answered order reaches the CRM once, priced.
	manager := newClient(t, public)
	manager.staffSignIn("mia.manager", staffPassword)
	type row struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	listShop := func() ([]row, error) {
		var all []row
		cursor := ""
		for range 100 {
			q := url.Values{"channel": {contracts.ChannelShop}, "limit": {"200"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			res := manager.get("/crm/api/v1/orders?" + q.Encode())
			if res.code != 200 {
				return nil, errors.New(res.String())
			}
			var page struct {
				Orders []row  `json:"orders"`
				Next   string `json:"next_cursor"`
			}
			if err := json.Unmarshal(res.body, &page); err != nil {
				return nil, err
			}
			all = append(all, page.Orders...)
			if cursor = page.Next; cursor == "" {
				return all, nil
			}
		}
		return nil, errors.New("more than 100 pages")
	}
	priced, _ := contracts.StatusRank(contracts.StatusPriced)
	var rows []row
	eventually(t, 90*time.Second, "every answered order priced in the CRM", func() (bool, string) {
		var err error
		if rows, err = listShop(); err != nil {
			return false, err.Error()
		}
		ok := 0
		for _, r := range rows {
			if rank, _ := contracts.StatusRank(r.Status); byID[r.ID] != "" && rank >= priced {
				ok++
			}
		}
		return ok >= len(byID), fmt.Sprintf("%d of %d priced, %d listed", ok, len(byID), len(rows))
	})
	t.Logf("every answered order priced in the CRM %s after the first start", time.Since(start).Round(time.Millisecond))
	// A late duplicate would come from a redelivery; give one a moment.
	time.Sleep(time.Second)
	rows, err := listShop()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range rows {
		seen[r.ID]++
	}
	for id, n := range seen {
		switch {
		case byID[id] == "":
			t.Errorf("the CRM lists shop order %s that the shop never acknowledged", id)
		case n != 1:
			t.Errorf("the CRM lists order %s %d times", id, n)
		}
	}
	for id := range byID {
		if seen[id] == 0 {
			t.Errorf("answered order %s is missing in the CRM", id)
		}
	}
	// mes-calc priced each order once: one order.priced on the stream
	// (a re-publish of the same message is de-duplicated by the broker; a
	// second calculation would be a message of its own).
	pricedOn := pricedOnStream(t, natsURL)
	for id := range byID {
		if n := pricedOn[id]; n != 1 {
			t.Errorf("order %s has %d order.priced messages on the stream, want 1", id, n)
		}
	}
	// Placed once, priced once: a second calculation by mes-calc, or a
	// second order.placed from the shop, would be a second message with its
	// own id, and the CRM's timeline keeps one row per message.
	for id := range byID {
		res := manager.get("/crm/api/v1/orders/" + id)
		var o crmOrder
		if res.code != 200 || json.Unmarshal(res.body, &o) != nil {
			t.Errorf("CRM order %s: %s", id, res)
			continue
		}
		count := map[string]int{}
		for _, e := range o.Timeline {
			count[e.Type]++
		}
		if count[contracts.OrderPlaced] != 1 || count[contracts.OrderPriced] != 1 {
			t.Errorf("CRM timeline of %s: %d order.placed, %d order.priced; want one each", id, count[contracts.OrderPlaced], count[contracts.OrderPriced])
		}
	}
}

// pricedOnStream counts the order.priced messages of each order in the
// platform's stream.
func pricedOnStream(t *testing.T, natsURL string) map[string]int {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect to the platform's NATS: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	subject := contracts.Subject(contracts.OrderPriced)
	st, err := js.Stream(ctx, broker.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	total := int(info.State.Subjects[subject])
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for read := 0; read < total; {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			var p contracts.OrderPricedV1
			if err := json.Unmarshal(m.Data(), &p); err != nil {
				t.Fatalf("order.priced %s: %v", m.Data(), err)
			}
			out[p.OrderID]++
			n++
		}
		if n == 0 && ctx.Err() != nil {
			t.Fatalf("read %d of %d order.priced messages", read, total)
		}
		read += n
	}
	return out
}

// TestMain removes the binary that the tests built. Run as
// fake-trace-viewer, the test binary is a stand-in trace viewer instead.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == fakeViewerArg {
		os.Exit(fakeTraceViewer(os.Args[2:]))
	}
	code := m.Run()
	if binary.path != "" {
		_ = os.RemoveAll(filepath.Dir(binary.path))
	}
	os.Exit(code)
}
