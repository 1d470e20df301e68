package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
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
	refused  string // a final 4xx answer, which a client does not retry
}

// load places orders through the public API at a steady rate, half in the
// shop (signed-in customers) and half through the B2B API, each with an
// Idempotency-Key that it retries with until the platform answers, as a
// careful client does.
type load struct {
	base      string
	http      *http.Client
	customers []string // shop bearer tokens
	apiKey    string
	onAck     func(id string) // told every acknowledged order, once

	mu     sync.Mutex
	orders []*order
	wg     sync.WaitGroup
}

func newLoad(base string) *load {
	return &load{base: base, http: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}}
}

type reply struct {
	code int
	body []byte
}

func (r reply) String() string {
	b := bytes.TrimSpace(r.body)
	if len(b) > 300 {
		b = append(b[:300:300], "..."...)
	}
	return fmt.Sprintf("%d %s", r.code, b)
}

func (l *load) post(ctx context.Context, path, token, key string, body any) (reply, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return reply{}, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", l.base+path, bytes.NewReader(b))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := l.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{code: res.StatusCode, body: rb}, nil
}

// signUp creates n shop customers through the shop's API, as customers
// do: sign up, open the confirmation link the shop e-mailed (the shop's
// mail folder, mailDir, stands for their inboxes), confirm.
func (l *load) signUp(ctx context.Context, n int, mailDir string) error {
	for i := range n {
		email := fmt.Sprintf("buyer%d-%s@example.com", i, uuid.NewString()[:8])
		res, err := l.post(ctx, "/shop/api/v1/accounts", "", "", map[string]string{
			"email": email, "name": fmt.Sprintf("Buyer %d", i), "password": "correct horse battery staple"})
		if err != nil || res.code != http.StatusAccepted && res.code != http.StatusCreated {
			return fmt.Errorf("shop sign-up: %v %s", err, res)
		}
		token := ""
		if res.code == http.StatusAccepted {
			var link string
			if err := poll(ctx, 30*time.Second, "the confirmation e-mail to "+email, func() (bool, string) {
				link = confirmationToken(mailDir, email)
				return link != "", "no e-mail in " + mailDir
			}); err != nil {
				return err
			}
			if res, err = l.post(ctx, "/shop/api/v1/accounts/confirm", "", "", map[string]string{"token": link}); err != nil || res.code != http.StatusCreated {
				return fmt.Errorf("shop sign-up confirmation: %v %s", err, res)
			}
		}
		var s struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(res.body, &s) != nil || s.Token == "" {
			return fmt.Errorf("shop sign-up gave no session: %s", res)
		}
		token = s.Token
		l.customers = append(l.customers, token)
	}
	return nil
}

// confirmationToken is the token of the confirmation link e-mailed to
// address, from the files in dir ("" when none has arrived).
func confirmationToken(dir, address string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	link := regexp.MustCompile(`/account/confirm\?token=([A-Za-z0-9_%.~-]+)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte("To: "+address)) && !bytes.Contains(b, []byte("<"+address+">")) {
			continue
		}
		if m := link.FindSubmatch(b); m != nil {
			if t, err := url.QueryUnescape(string(m[1])); err == nil {
				return t
			}
		}
	}
	return ""
}

func shopOrder() map[string]any {
	return map[string]any{
		"lines": []map[string]any{{"product": "laser_cut_sheet", "quantity": 10, "lead": "standard",
			"options": map[string]string{"material": "steel_s235", "width_mm": "200", "height_mm": "100", "thickness_mm": "2", "finish": "powder_coat"}}},
		"delivery": map[string]string{"line1": "Hauptstrasse 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
		"contact":  map[string]string{"name": "Ada Buyer", "email": "ada@example.com", "phone": "+49 30 123456"},
	}
}

func apiOrder(ref string) map[string]any {
	return map[string]any{
		"reference": ref,
		"lines": []map[string]any{{"product": "laser_cut_sheet", "quantity": 20,
			"options": map[string]any{"material": "steel_s235", "width_mm": 200, "height_mm": 100, "thickness_mm": 2}}},
		"delivery": map[string]string{"line1": "Industriestr. 5", "city": "Hamburg", "postal_code": "20095", "country": "DE"},
	}
}

// retryable says whether an answer leaves the outcome unknown or says
// "later": the client retries with the same key. Anything else is final.
func retryable(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusConflict || code == http.StatusRequestTimeout
}

// place places one order and retries it until it is answered or until
// giveUp passes (then it stays unacknowledged).
func (l *load) place(ctx context.Context, channel string, giveUp time.Time) {
	o := &order{key: uuid.NewString(), channel: channel, first: time.Now()}
	l.mu.Lock()
	l.orders = append(l.orders, o)
	l.mu.Unlock()
	token, path := l.apiKey, "/api/v1/orders"
	var body any = apiOrder("PO-" + o.key[:8])
	if channel == "shop" {
		token, path, body = l.customers[rand.IntN(len(l.customers))], "/shop/api/v1/orders", shopOrder()
	}
	backoff := 100 * time.Millisecond
	for {
		res, err := l.post(ctx, path, token, o.key, body)
		l.mu.Lock()
		o.attempts++
		l.mu.Unlock()
		if err == nil && (res.code == http.StatusCreated || res.code == http.StatusOK) {
			var a struct {
				ID string `json:"id"`
			}
			l.mu.Lock()
			if json.Unmarshal(res.body, &a) != nil || a.ID == "" {
				o.refused = "answer without an id: " + res.String()
			} else {
				o.acked, o.id = time.Now(), a.ID
			}
			l.mu.Unlock()
			if o.id != "" && l.onAck != nil {
				l.onAck(o.id)
			}
			return
		}
		if err == nil && !retryable(res.code) {
			l.mu.Lock()
			o.refused = res.String()
			l.mu.Unlock()
			return
		}
		if time.Now().After(giveUp) || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff)))):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// run places rate orders a second until ctx ends; each order is retried
// for up to retryFor, even after ctx ended.
func (l *load) run(ctx context.Context, rate float64, retryFor time.Duration) {
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
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
