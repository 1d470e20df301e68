package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/fabrika/fabrika/cmd/internal/loadgen"
	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/gateway"
)

// manager is the CRM manager who confirms every priced order for
// production, through the gateway like any staff member: that is what
// makes mes-operator take it. Orders are handed over once acknowledged.
type manager struct {
	client *loadgen.Client

	mu        sync.Mutex
	confirmed map[string]time.Time
	failed    map[string]string
	queue     chan string
	wg        sync.WaitGroup
}

// newManager creates a manager account in the gateway's database (as
// `gateway admin create` does) and signs it in through the ingress.
func newManager(ctx context.Context, base, gatewayDSN string) (*manager, error) {
	password := hex.EncodeToString(randomBytes(16))
	db, err := sqldb.Open(ctx, gatewayDSN)
	if err != nil {
		return nil, err
	}
	err = gateway.CreateStaff(ctx, db, "fault.suite.manager", password, "manager", nil)
	db.Close()
	if err != nil {
		return nil, fmt.Errorf("create the manager: %w", err)
	}
	m := &manager{client: loadgen.New(base), confirmed: map[string]time.Time{}, failed: map[string]string{}, queue: make(chan string, 100000)}
	if err := m.client.SignInStaff(ctx, "fault.suite.manager", password); err != nil {
		return nil, err
	}
	return m, nil
}

// run confirms the queued orders with workers until the queue is closed and
// drained or giveUp passes for an order.
func (m *manager) run(ctx context.Context, workers int, retryFor time.Duration) {
	for range workers {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			for id := range m.queue {
				m.confirm(ctx, id, time.Now().Add(retryFor))
			}
		}()
	}
}

// confirm waits until the CRM shows the order priced and confirms it with
// the version read; when the outcome of a confirmation is unknown it reads
// the order again, as a person reloading the page does.
func (m *manager) confirm(ctx context.Context, id string, giveUp time.Time) {
	backoff := 200 * time.Millisecond
	fail := func(why string) {
		m.mu.Lock()
		m.failed[id] = why
		m.mu.Unlock()
	}
	for {
		if time.Now().After(giveUp) || ctx.Err() != nil {
			fail("not confirmed before the manager gave up")
			return
		}
		res, err := m.client.Get(ctx, "/crm/api/v1/orders/"+id)
		var o struct {
			Order struct {
				Status  string `json:"status"`
				Version int64  `json:"version"`
			} `json:"order"`
		}
		switch {
		case err != nil || res.Code >= 500 || res.Code == http.StatusNotFound || res.Code == http.StatusTooManyRequests:
			// not in the CRM yet, or the platform is away
		case res.Code != 200 || json.Unmarshal(res.Body, &o) != nil:
			fail("CRM order: " + res.String())
			return
		case o.Order.Status == contracts.StatusConfirmed || o.Order.Status == contracts.StatusInProduction:
			m.mu.Lock()
			if _, ok := m.confirmed[id]; !ok {
				m.confirmed[id] = time.Now()
			}
			m.mu.Unlock()
			return
		case o.Order.Status == contracts.StatusPriced:
			res, err := m.client.Post(ctx, "/crm/api/v1/orders/"+id+"/confirm", map[string]any{"version": o.Order.Version})
			if err == nil && res.Code == 200 {
				m.mu.Lock()
				m.confirmed[id] = time.Now()
				m.mu.Unlock()
				return
			}
			if err == nil && res.Code < 500 && res.Code != http.StatusConflict && res.Code != http.StatusTooManyRequests {
				fail("confirm: " + res.String())
				return
			}
			continue // unknown outcome or a newer version: read again
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
