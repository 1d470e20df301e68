package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/cmd/internal/loadgen"
)

// order is one order a client placed: its key, when it first tried, when
// and with which id the platform acknowledged it.
type order struct {
	key      string
	channel  string // "shop" or "api"
	first    time.Time
	acked    time.Time // zero: never acknowledged
	id       string
	attempts int
	refused  string   // a final 4xx answer, which a client does not retry
	last     string   // the last answer that made the client try again
	retried  []string // every answer that made the client try again
}

// load places orders through the public API at a steady rate, half in the
// shop (signed-in customers) and half through the B2B API, each with an
// Idempotency-Key that it retries with until the platform answers, as a
// careful client does.
type load struct {
	client    *loadgen.Client
	customers []string // shop bearer tokens
	apiKey    string
	onAck     func(id string) // told every acknowledged order, once

	mu     sync.Mutex
	orders []*order
	wg     sync.WaitGroup
}

func newLoad(base string) *load {
	return &load{client: loadgen.New(base)}
}

// signUp creates n shop customers through the shop's API, as customers
// do: sign up, open the confirmation link the shop e-mailed (the shop's
// mail folder, mailDir, stands for their inboxes), confirm.
func (l *load) signUp(ctx context.Context, n int, mailDir string) error {
	for i := range n {
		token, err := l.client.SignUpCustomer(ctx, fmt.Sprintf("buyer%d-%s@example.com", i, uuid.NewString()[:8]),
			fmt.Sprintf("Buyer %d", i), "correct horse battery staple", mailDir)
		if err != nil {
			return err
		}
		l.customers = append(l.customers, token)
	}
	return nil
}

// place places one order and retries it until it is answered or until
// giveUp passes (then it stays unacknowledged).
func (l *load) place(ctx context.Context, channel string, giveUp time.Time) {
	o := &order{key: uuid.NewString(), channel: channel, first: time.Now()}
	l.mu.Lock()
	l.orders = append(l.orders, o)
	l.mu.Unlock()
	token, path := l.apiKey, "/api/v1/orders"
	var body any = loadgen.APIOrder("PO-" + o.key[:8])
	if channel == "shop" {
		token, path, body = l.customers[rand.IntN(len(l.customers))], "/shop/api/v1/orders", loadgen.ShopOrder()
	}
	p := l.client.Place(ctx, path, token, o.key, body, giveUp, func() {
		l.mu.Lock()
		o.attempts++
		l.mu.Unlock()
	})
	l.mu.Lock()
	o.acked, o.id, o.refused, o.last, o.retried = p.Acked, p.ID, p.Refused, p.Last, p.Retried
	l.mu.Unlock()
	if o.id != "" && l.onAck != nil {
		l.onAck(o.id)
	}
}

// run places rate orders a second until ctx ends; each order is retried
// for up to retryFor, even after ctx ended.
func (l *load) run(ctx context.Context, rate float64, retryFor time.Duration) {
	sched := loadgen.NewSchedule(rate)
	for n := 0; ; {
		if _, ok := sched.Wait(ctx, n); !ok {
			return
		}
		channel := "shop"
		if n%2 == 1 {
			channel = "api"
		}
		n++
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			// Orders outlive the load's ctx: a client keeps retrying.
			l.place(context.WithoutCancel(ctx), channel, time.Now().Add(retryFor))
		}()
	}
}

// snapshot copies the orders placed so far.
func (l *load) snapshot() []order {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]order, len(l.orders))
	for i, o := range l.orders {
		out[i] = *o
	}
	return out
}

// refusals summarises the final refusals by answer.
func refusals(orders []order) string {
	count := map[string]int{}
	for _, o := range orders {
		if o.refused != "" {
			count[o.refused]++
		}
	}
	var b strings.Builder
	for r, n := range count {
		fmt.Fprintf(&b, "  %d x %s\n", n, r)
	}
	return b.String()
}
