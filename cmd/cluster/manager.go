package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/gateway"
)

// manager is the CRM manager who confirms every priced order for
// production, through the gateway like any staff member: that is what
// makes mes-operator take it. Orders are handed over once acknowledged.
type manager struct {
	base string
	http *http.Client
	csrf string

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
	jar, _ := cookiejar.New(nil)
	m := &manager{base: base, confirmed: map[string]time.Time{}, failed: map[string]string{}, queue: make(chan string, 100000),
		http: &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if _, err := m.do(ctx, "GET", "/staff/login", nil, "text/html"); err != nil {
		return nil, err
	}
	u, _ := url.Parse(base)
	var loginCSRF string
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "fabrika_login" {
			loginCSRF = ck.Value
		}
	}
	form := url.Values{"login": {"fault.suite.manager"}, "password": {password}, "csrf_token": {loginCSRF}}
	res, err := m.do(ctx, "POST", "/staff/login", form, "text/html")
	if err != nil || res.code != http.StatusSeeOther {
		return nil, fmt.Errorf("manager sign-in: %v %s", err, res)
	}
	res, err = m.do(ctx, "GET", "/staff/", nil, "")
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	if err != nil || res.code != 200 || json.Unmarshal(res.body, &me) != nil || me.CSRF == "" {
		return nil, fmt.Errorf("manager session: %v %s", err, res)
	}
	m.csrf = me.CSRF
	return m, nil
}

func (m *manager) do(ctx context.Context, method, path string, body any, accept string) (reply, error) {
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, m.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	if m.csrf != "" {
		req.Header.Set("X-Csrf-Token", m.csrf)
	}
	res, err := m.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return reply{code: res.StatusCode, body: b}, err
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
		res, err := m.do(ctx, "GET", "/crm/api/v1/orders/"+id, nil, "")
		var o struct {
			Order struct {
				Status  string `json:"status"`
				Version int64  `json:"version"`
			} `json:"order"`
		}
		switch {
		case err != nil || res.code >= 500 || res.code == http.StatusNotFound || res.code == http.StatusTooManyRequests:
			// not in the CRM yet, or the platform is away
		case res.code != 200 || json.Unmarshal(res.body, &o) != nil:
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
			res, err := m.do(ctx, "POST", "/crm/api/v1/orders/"+id+"/confirm", map[string]any{"version": o.Order.Version}, "")
			if err == nil && res.code == 200 {
				m.mu.Lock()
				m.confirmed[id] = time.Now()
				m.mu.Unlock()
				return
			}
			if err == nil && res.code < 500 && res.code != http.StatusConflict && res.code != http.StatusTooManyRequests {
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
