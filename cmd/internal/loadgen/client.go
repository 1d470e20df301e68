// Package loadgen holds the clients that drive a running Fabrika through
// its public entry, as its users do: shop customers, B2B clients with an
// Idempotency-Key retried while the outcome is unknown, and staff signed in
// at the gateway. `fabrika load` and the fault suite of cmd/cluster use it.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/backoff"
)

// Reply is an HTTP answer, read whole.
type Reply struct {
	Code int
	Body []byte
}

func (r Reply) String() string {
	b := bytes.TrimSpace(r.Body)
	if len(b) > 300 {
		b = append(b[:300:300], "..."...)
	}
	return fmt.Sprintf("%d %s", r.Code, b)
}

// Client is one user agent against the gateway: its own cookies (a staff
// session), and the CSRF token of that session once signed in.
type Client struct {
	base      string
	http      *http.Client
	csrf      string
	forwarded string
}

// New returns a client of the platform whose public entry is base (e.g.
// http://127.0.0.1:8080). It follows no redirect: a 303 is an answer.
func New(base string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// ForwardedFor makes the client send X-Forwarded-For: addr with every
// request, as the ingress in front of the gateway does for a client at addr.
// The gateway believes it only from a trusted proxy (its TrustedProxies,
// FABRIKA_TRUSTED_PROXIES): a bench on one machine stands for clients at
// many addresses, each with its own per-address limits.
func (c *Client) ForwardedFor(addr string) { c.forwarded = addr }

// From returns a client that shares c's connections and cookies but sends
// X-Forwarded-For: addr (see ForwardedFor): one client standing for many
// users, each at its own address.
func (c *Client) From(addr string) *Client {
	d := *c
	d.forwarded = addr
	return &d
}

// Request is one request: Body is JSON unless it is url.Values (a form).
type Request struct {
	Method, Path string
	Body         any
	Bearer       string // Authorization: Bearer
	Key          string // Idempotency-Key
	Accept       string // default application/json
}

// Do sends r and reads the whole answer.
func (c *Client) Do(ctx context.Context, r Request) (Reply, error) {
	req, err := NewRequest(ctx, c.base, r)
	if err != nil {
		return Reply{}, err
	}
	if c.forwarded != "" {
		req.Header.Set("X-Forwarded-For", c.forwarded)
	}
	if c.csrf != "" && r.Method != http.MethodGet {
		req.Header.Set("X-Csrf-Token", c.csrf)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return Reply{Code: res.StatusCode, Body: b}, err
}

// NewRequest is r as an HTTP request to the platform at base: its body
// encoded (JSON, or a form for url.Values) with its Content-Type, Accept,
// and the bearer token and Idempotency-Key when r has them.
func NewRequest(ctx context.Context, base string, r Request) (*http.Request, error) {
	var rd io.Reader
	ct := ""
	switch b := r.Body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, base+r.Path, rd)
	if err != nil {
		return nil, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	accept := r.Accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	if r.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.Bearer)
	}
	if r.Key != "" {
		req.Header.Set("Idempotency-Key", r.Key)
	}
	return req, nil
}

// Get is Do of a GET of a JSON resource.
func (c *Client) Get(ctx context.Context, path string) (Reply, error) {
	return c.Do(ctx, Request{Method: http.MethodGet, Path: path})
}

// Post is Do of a POST of a JSON body.
func (c *Client) Post(ctx context.Context, path string, body any) (Reply, error) {
	return c.Do(ctx, Request{Method: http.MethodPost, Path: path, Body: body})
}

// SignInStaff signs a staff member in at the gateway's sign-in page, as a
// browser does (the page's CSRF cookie, the form), and keeps the session's
// CSRF token for the staff APIs.
func (c *Client) SignInStaff(ctx context.Context, login, password string) error {
	if _, err := c.Do(ctx, Request{Method: http.MethodGet, Path: "/staff/login", Accept: "text/html"}); err != nil {
		return err
	}
	u, err := url.Parse(c.base)
	if err != nil {
		return err
	}
	form := url.Values{"login": {login}, "password": {password}}
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "fabrika_login" {
			form.Set("csrf_token", ck.Value)
		}
	}
	res, err := c.Do(ctx, Request{Method: http.MethodPost, Path: "/staff/login", Body: form, Accept: "text/html"})
	if err != nil || res.Code != http.StatusSeeOther {
		return fmt.Errorf("staff sign-in of %s: %v %s", login, err, res)
	}
	res, err = c.Get(ctx, "/staff/")
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	if err != nil || res.Code != http.StatusOK || json.Unmarshal(res.Body, &me) != nil {
		return fmt.Errorf("staff session of %s: %v %s", login, err, res)
	}
	c.csrf = me.CSRF
	return nil
}

// SignUpCustomer creates a shop customer through the shop's API and
// returns its bearer token. When the shop confirms sign-ups by e-mail, the
// confirmation link is read from the shop's mail folder mailDir (which
// stands for the customers' inboxes).
func (c *Client) SignUpCustomer(ctx context.Context, email, name, password, mailDir string) (string, error) {
	res, err := c.Post(ctx, "/shop/api/v1/accounts", map[string]string{"email": email, "name": name, "password": password})
	if err != nil || res.Code != http.StatusAccepted && res.Code != http.StatusCreated {
		return "", fmt.Errorf("shop sign-up: %v %s", err, res)
	}
	if res.Code == http.StatusAccepted {
		var token string
		if err := Poll(ctx, 30*time.Second, func() error {
			if token = confirmationToken(mailDir, email); token == "" {
				return fmt.Errorf("no confirmation e-mail to %s in %q", email, mailDir)
			}
			return nil
		}); err != nil {
			return "", err
		}
		if res, err = c.Post(ctx, "/shop/api/v1/accounts/confirm", map[string]string{"token": token}); err != nil || res.Code != http.StatusCreated {
			return "", fmt.Errorf("shop sign-up confirmation: %v %s", err, res)
		}
	}
	var s struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(res.Body, &s) != nil || s.Token == "" {
		return "", fmt.Errorf("shop sign-up gave no session: %s", res)
	}
	return s.Token, nil
}

// SignInCustomer signs a shop customer in through the shop's API and
// returns the session's bearer token.
func (c *Client) SignInCustomer(ctx context.Context, email, password string) (string, error) {
	res, err := c.Post(ctx, "/shop/api/v1/sessions", map[string]string{"email": email, "password": password})
	if err != nil || res.Code != http.StatusCreated && res.Code != http.StatusOK {
		return "", fmt.Errorf("shop sign-in of %s: %v %s", email, err, res)
	}
	var s struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(res.Body, &s) != nil || s.Token == "" {
		return "", fmt.Errorf("shop sign-in gave no session: %s", res)
	}
	return s.Token, nil
}

// confirmationToken is the token of the confirmation link e-mailed to
// address, from the files in dir ("" when none has arrived).
func confirmationToken(dir, address string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte("To: "+address)) && !bytes.Contains(b, []byte("<"+address+">")) {
			continue
		}
		if m := confirmLink.FindSubmatch(b); m != nil {
			if t, err := url.QueryUnescape(string(m[1])); err == nil {
				return t
			}
		}
	}
	return ""
}

var confirmLink = regexp.MustCompile(`/account/confirm\?token=([A-Za-z0-9_%.~-]+)`)

// Retryable says whether an answer leaves the outcome unknown or says
// "later": a careful client retries with the same key. Anything else is
// final.
func Retryable(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusConflict || code == http.StatusRequestTimeout
}

// Placed is the outcome of one order a client placed.
type Placed struct {
	ID       string // the platform's id; "" when never acknowledged
	Acked    time.Time
	Attempts int
	Refused  string   // a final 4xx answer, which a client does not retry
	Last     string   // the last answer that made the client try again ("" when none)
	Retried  []string // every answer that made the client try again, in order
}

// Place posts an order with an Idempotency-Key and retries it with the
// same key, with jittered backoff (retryWait), while the outcome is unknown, until it
// is answered or giveUp passes. attempt, when not nil, is told of every
// attempt (the fault suite counts them while the order is in flight).
func (c *Client) Place(ctx context.Context, path, bearer, key string, body any, giveUp time.Time, attempt func()) Placed {
	var p Placed
	for {
		res, err := c.Do(ctx, Request{Method: http.MethodPost, Path: path, Body: body, Bearer: bearer, Key: key})
		p.Attempts++
		if attempt != nil {
			attempt()
		}
		if err == nil && (res.Code == http.StatusCreated || res.Code == http.StatusOK) {
			var a struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(res.Body, &a) != nil || a.ID == "" {
				p.Refused = "answer without an id: " + res.String()
			} else {
				p.ID, p.Acked = a.ID, time.Now()
			}
			return p
		}
		if err == nil && !Retryable(res.Code) {
			p.Refused = res.String()
			return p
		}
		if err != nil {
			p.Last = err.Error()
		} else {
			p.Last = res.String()
		}
		p.Retried = append(p.Retried, p.Last)
		if time.Now().After(giveUp) || ctx.Err() != nil {
			return p
		}
		select {
		case <-ctx.Done():
			return p
		case <-time.After(retryWait(p.Attempts, rand.Float64())):
		}
	}
}

// The pacing of a client's retries: 100 ms after the first failure, twice
// as long after each further one, never more than retryCap.
const (
	retryBase = 100 * time.Millisecond
	retryCap  = time.Second
)

// retryWait is the wait after n failed attempts: backoff.Exponential(n,
// retryBase, retryCap) less a random share of its half (jitter in [0, 1)),
// so clients turned away together do not come back together. The cap is
// the platform's shortest Retry-After (1 s: the ingress while no gateway is
// up, mes-api): a client is then at most a second late for a recovery, and
// while the platform is down each waiting order costs about one 503 a
// second, answered without work. The client does not wait longer when a
// service asks for more (Retry-After: 5 during a database outage): the
// Idempotency-Key makes a retry safe, and a sooner one is only a cheap 503.
func retryWait(n int, jitter float64) time.Duration {
	d := backoff.Exponential(n, retryBase, retryCap)
	return d - time.Duration(jitter*float64(d/2))
}

// ShopOrder is a shop customer's order of one configured part.
func ShopOrder() map[string]any {
	return map[string]any{
		"lines": []map[string]any{{"product": "laser_cut_sheet", "quantity": 10, "lead": "standard",
			"options": map[string]string{"material": "steel_s235", "width_mm": "200", "height_mm": "100", "thickness_mm": "2", "finish": "powder_coat"}}},
		"delivery": map[string]string{"line1": "Hauptstrasse 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
		"contact":  map[string]string{"name": "Ada Buyer", "email": "ada@example.com", "phone": "+49 30 123456"},
	}
}

// APIOrder is a B2B client's order with its own reference.
func APIOrder(ref string) map[string]any {
	return map[string]any{
		"reference": ref,
		"lines": []map[string]any{{"product": "laser_cut_sheet", "quantity": 20,
			"options": map[string]any{"material": "steel_s235", "width_mm": 200, "height_mm": 100, "thickness_mm": 2}}},
		"delivery": map[string]string{"line1": "Industriestr. 5", "city": "Hamburg", "postal_code": "20095", "country": "DE"},
	}
}

// Poll calls check until it returns nil or within passes; the last error
// says what was still missing.
func Poll(ctx context.Context, within time.Duration, check func() error) error {
	deadline := time.Now().Add(within)
	backoff := 50 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}
