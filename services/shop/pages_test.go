package shop_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/ratelimit"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/shop"
)

func TestCustomerJourneyThroughPages(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{}).withPriceList()
	b := e.browser()

	home := b.get("/")
	if home.code != 200 || !strings.Contains(string(home.body), "Laser-cut sheet part") {
		t.Fatalf("home: %d", home.code)
	}
	etag := home.header.Get("ETag")
	if etag == "" || !strings.Contains(home.header.Get("Cache-Control"), "private") {
		t.Fatalf("home caching headers: %v", home.header)
	}
	if res := b.get("/catalog/laser_cut_sheet"); res.code != 200 || !strings.Contains(string(res.body), `name="width_mm"`) {
		t.Fatalf("product page: %d", res.code)
	}
	if res := b.get("/static/quote.js"); res.code != 200 || !strings.Contains(string(res.body), "/shop/api/v1/quotes") {
		t.Fatalf("quote script: %d", res.code)
	}
	if res := b.get("/catalog/teapot"); res.code != 404 {
		t.Fatalf("unknown product page: %d", res.code)
	}
	// Forms without the CSRF token are refused.
	if res := b.post("/account/signup", url.Values{"csrf": {"forged"}, "email": {"x@example.com"}}); res.code != 403 {
		t.Fatalf("forged CSRF: %d", res.code)
	}
	// A form from another origin is refused even with the right token.
	for _, h := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}} {
		if res := b.postWith("/account/signup", url.Values{"email": {"x@example.com"}}, h); res.code != 403 || !strings.Contains(string(res.body), "did not come from our site") {
			t.Fatalf("cross-origin form %v: %d", h, res.code)
		}
	}
	// Sign-up errors are shown next to their fields (a same-origin post).
	res := b.postWith("/account/signup", url.Values{"email": {"not-an-email"}, "name": {""}, "password": {"short"}},
		map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": e.base})
	if res.code != 422 || !fieldError(res.body, "is not an e-mail address") || !fieldError(res.body, "must be at least 10 characters") {
		t.Fatalf("signup errors: %d %s", res.code, res.body)
	}
	email := "page-buyer@example.com"
	res = b.signUp(email, "Page Buyer", "a long enough password")
	cookie := res.header.Get("Set-Cookie")
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") {
		t.Fatalf("session cookie %q", cookie)
	}

	// Quote on the product page, then a field error, then add to the cart.
	form := url.Values{"material": {"steel_s235"}, "finish": {"powder_coat"}, "width_mm": {"200"}, "height_mm": {"100"},
		"thickness_mm": {"2"}, "quantity": {"10"}, "lead": {"standard"}, "action": {"quote"}}
	res = b.post("/catalog/laser_cut_sheet", form)
	if res.code != 200 || !strings.Contains(string(res.body), "per part") {
		t.Fatalf("quote: %d", res.code)
	}
	form.Set("width_mm", "5")
	res = b.post("/catalog/laser_cut_sheet", form)
	if res.code != 422 || !fieldError(res.body, "must be between 10 and 3000 mm") {
		t.Fatalf("bad width: %d %s", res.code, res.body)
	}
	form.Set("width_mm", "200")
	form.Set("action", "add")
	if res = b.post("/catalog/laser_cut_sheet", form); res.code != 303 {
		t.Fatalf("add to cart: %d %s", res.code, res.body)
	}
	if res = b.get("/cart"); res.code != 200 || !strings.Contains(string(res.body), "Laser-cut sheet part") {
		t.Fatalf("cart: %d", res.code)
	}
	noCodes(t, "cart", res.body)
	if res := b.get("/checkout"); !strings.Contains(string(res.body), `<option value="DE" >Germany</option>`) {
		t.Fatal("checkout has no country picker")
	}

	// Checkout: field errors first, then the order; a double submit
	// lands on the same order.
	res = b.get("/checkout")
	key := regexp.MustCompile(`name="idempotency_key" value="([0-9a-f]+)"`).FindSubmatch(res.body)
	if res.code != 200 || key == nil {
		t.Fatalf("checkout: %d", res.code)
	}
	order := url.Values{"idempotency_key": {string(key[1])}, "delivery.line1": {"Hauptstrasse 1"}, "delivery.city": {""},
		"delivery.postal_code": {"10115"}, "delivery.country": {"Deutschland"}, "contact.name": {"Page Buyer"}, "contact.email": {email}}
	res = b.post("/orders", order)
	if res.code != 422 || !fieldError(res.body, "enter the city") || !fieldError(res.body, "must be a country code of ISO 3166-1") {
		t.Fatalf("checkout errors: %d %s", res.code, res.body)
	}
	if n := e.count(`SELECT COUNT(*) FROM orders`); n != 0 {
		t.Fatal("an invalid checkout wrote an order")
	}
	order.Set("delivery.city", "Berlin")
	order.Set("delivery.country", "de")
	res = b.post("/orders", order)
	loc := res.header.Get("Location")
	if res.code != 303 || !strings.HasPrefix(loc, "/orders/S-") {
		t.Fatalf("place: %d %s", res.code, res.body)
	}
	res = b.post("/orders", order)
	if res.code != 303 || !strings.HasPrefix(loc, res.header.Get("Location")) {
		t.Fatalf("double submit: %d to %s, first went to %s", res.code, res.header.Get("Location"), loc)
	}
	if n := e.count(`SELECT COUNT(*) FROM orders`); n != 1 {
		t.Fatalf("%d orders", n)
	}
	if n := e.count(`SELECT COUNT(*) FROM cart_line`); n != 0 {
		t.Fatalf("cart not emptied: %d lines", n)
	}
	res = b.get(loc)
	if res.code != 200 || !strings.Contains(string(res.body), "Thank you") || !strings.Contains(string(res.body), "Order placed") {
		t.Fatalf("order page: %d", res.code)
	}
	noCodes(t, "order page", res.body)
	if !strings.Contains(string(res.body), "Berlin, Germany") {
		t.Fatal("the order page shows the country's code, not its name")
	}
	number := strings.TrimSuffix(strings.TrimPrefix(loc, "/orders/"), "?placed=1")
	if res = b.get("/orders"); res.code != 200 || !strings.Contains(string(res.body), number) {
		t.Fatalf("my orders: %d", res.code)
	}
	if res = b.get("/orders?cursor=garbage!"); res.code != 400 {
		t.Fatalf("bad cursor page: %d", res.code)
	}
	if res = b.post("/orders/"+number+"/cancel", url.Values{"reason": {"changed my mind"}}); res.code != 303 {
		t.Fatalf("cancel: %d %s", res.code, res.body)
	}
	if res = b.get("/orders/" + number); !strings.Contains(string(res.body), "Cancellation requested") {
		t.Fatal("timeline lacks the cancellation request")
	}

	// Sign out, and the pages ask to sign in again.
	if res = b.post("/account/logout", url.Values{}); res.code != 303 {
		t.Fatalf("logout: %d", res.code)
	}
	if res = b.get("/orders"); res.code != 303 || !strings.HasPrefix(res.header.Get("Location"), "/account/login") {
		t.Fatalf("orders after logout: %d", res.code)
	}
}

// Failed sign-ins slow the guesser down with growing delays, never lock the
// owner out (issue 15, point 9).
func TestSignInIsThrottled(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Now())
	verifier, from := gatewayClient(t)
	e := start(t, shop.Config{Identity: verifier, Now: clock.Now})
	signIn := func(ip, password string) response {
		return e.do("POST", "/shop/api/v1/sessions", "", map[string]string{"email": "limited@example.com", "password": password}, from(ip))
	}
	e.account("limited@example.com", "L", "the right password", from("10.0.0.1"))
	const guesser = "" // the peer's address, as the browser below has
	for i := range 4 {
		if res := signIn(guesser, "wrong password"); res.code != 401 {
			t.Fatalf("attempt %d: %d", i, res.code)
		}
	}
	res := signIn(guesser, "the right password")
	if res.code != 429 || res.header.Get("Retry-After") == "" {
		t.Fatalf("after 4 failures: %d %v", res.code, res.header)
	}
	// An address the client names itself is not believed: only the one the
	// gateway signed (issue 16, point 9).
	forged := e.do("POST", "/shop/api/v1/sessions", "", map[string]string{"email": "limited@example.com", "password": "the right password"},
		map[string]string{"X-Forwarded-For": "1.2.3.4", "X-Real-Ip": "1.2.3.4"})
	if forged.code != 429 {
		t.Fatalf("a forged X-Forwarded-For escaped the delay: %d", forged.code)
	}
	// The form says so too.
	b := e.browser()
	b.get("/account/login")
	res = b.post("/account/login", url.Values{"email": {"limited@example.com"}, "password": {"the right password"}})
	if res.code != 429 || !strings.Contains(string(res.body), "too many failed sign-ins") {
		t.Fatalf("form: %d", res.code)
	}
	// The owner, elsewhere, signs in at once: no lock-out.
	if res := signIn("1.2.3.4", "the right password"); res.code != 201 {
		t.Fatalf("owner from another address: %d %s", res.code, res.body)
	}
	// And from the guesser's address once the delay has passed.
	for range 4 {
		signIn(guesser, "wrong password")
	}
	clock.Advance(time.Minute)
	if res := signIn(guesser, "the right password"); res.code != 201 {
		t.Fatalf("after the delay: %d %s", res.code, res.body)
	}

	// Every attempt of an address counts against its allowance of hashes.
	ip := start(t, shop.Config{AttemptsPerIP: ratelimit.Rate{Events: 2, Per: time.Hour}})
	for range 2 {
		ip.do("POST", "/shop/api/v1/sessions", "", map[string]string{"email": "nobody@example.com", "password": "whatever you like"}, nil)
	}
	if res := ip.do("POST", "/shop/api/v1/sessions", "", map[string]string{"email": "other@example.com", "password": "whatever you like"}, nil); res.code != 429 {
		t.Fatalf("per address: %d", res.code)
	}
}

// An attacker with many addresses cannot flush the failure counts by
// filling the limiter with new keys (issue 15, point 10): the shop's limiter
// used to clear itself when full.
func TestSignInThrottleSurvivesAFloodOfAddresses(t *testing.T) {
	t.Parallel()
	verifier, from := gatewayClient(t)
	e := start(t, shop.Config{Identity: verifier, LimiterMaxKeys: 20, Now: testenv.NewClock(time.Now()).Now})
	signIn := func(email, ip, password string) response {
		return e.do("POST", "/shop/api/v1/sessions", "", map[string]string{"email": email, "password": password}, from(ip))
	}
	e.account("victim@example.com", "V", "the right password", nil)
	for range 4 {
		signIn("victim@example.com", "6.6.6.6", "wrong password")
	}
	for i := range 60 {
		signIn(fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("10.1.%d.%d", i/200, i%200), "wrong password")
		if i%4 == 0 {
			if res := signIn("victim@example.com", "6.6.6.6", "the right password"); res.code != 429 {
				t.Fatalf("after a flood of %d addresses the guesser got %d", i+1, res.code)
			}
		}
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{})
	tok := e.signUp()
	if res := e.do("GET", "/shop/api/v1/me", tok, nil, nil); res.code != 200 {
		t.Fatalf("me: %d", res.code)
	}
	if res := e.do("DELETE", "/shop/api/v1/sessions/current", tok, nil, nil); res.code != 204 {
		t.Fatalf("sign out: %d", res.code)
	}
	if res := e.do("GET", "/shop/api/v1/me", tok, nil, nil); res.code != 401 {
		t.Fatalf("me after sign out: %d", res.code)
	}
	if n := e.count(`SELECT COUNT(*) FROM session`); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

// fieldError tells whether a page shows msg as a field message.
func fieldError(body []byte, msg string) bool {
	return strings.Contains(string(body), `<span class="field-error">`+msg)
}

func TestBadProductForms(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{}).withPriceList()
	b := e.browser()
	b.get("/")
	b.signUp("forms@example.com", "F", "long enough password")
	base := url.Values{"material": {"steel_s235"}, "finish": {"none"}, "width_mm": {"200"}, "height_mm": {"100"},
		"thickness_mm": {"2"}, "quantity": {"10"}, "lead": {"standard"}, "action": {"add"}}
	tests := []struct {
		field, value, product string
		code                  int
		msg                   string
	}{
		{"material", "gold", "laser_cut_sheet", 422, `material &#34;gold&#34; is not available`},
		{"finish", "chrome", "laser_cut_sheet", 422, `finish &#34;chrome&#34; is not available`},
		{"width_mm", "5", "laser_cut_sheet", 422, "must be between 10 and 3000 mm"},
		{"height_mm", "tall", "laser_cut_sheet", 422, `&#34;tall&#34; is not a number`},
		{"thickness_mm", "", "laser_cut_sheet", 422, "is required"},
		{"quantity", "ten", "laser_cut_sheet", 422, "enter a whole number"},
		{"quantity", "0", "laser_cut_sheet", 422, "must be at least 1"},
		{"quantity", "20000", "laser_cut_sheet", 422, "quantity must be between 1 and 10000"},
		{"lead", "yesterday", "laser_cut_sheet", 422, `must be &#34;standard&#34; or &#34;rush&#34;`},
		{"material", "steel_s235", "teapot", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			f := url.Values{}
			for k, v := range base {
				f[k] = append([]string(nil), v...)
			}
			f.Set(tc.field, tc.value)
			res := b.post("/catalog/"+tc.product, f)
			if res.code != tc.code || (tc.msg != "" && !fieldError(res.body, tc.msg)) {
				t.Fatalf("got %d, want %d with %q next to the field:\n%s", res.code, tc.code, tc.msg, res.body)
			}
		})
	}
	if n := e.count(`SELECT COUNT(*) FROM cart_line`); n != 0 {
		t.Fatalf("bad forms wrote %d cart lines", n)
	}
	// The catalogue page revalidates by price-list version.
	first := b.get("/catalog")
	req, _ := http.NewRequest("GET", e.base+"/catalog", nil)
	req.Header.Set("If-None-Match", first.header.Get("ETag"))
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 304 {
		t.Fatalf("revalidation: %d", res.StatusCode)
	}
}

// After sign-in the shop goes only to a path of its own (issue 15, point 7).
func TestSignInRedirectStaysOnSite(t *testing.T) {
	t.Parallel()
	e := start(t, shop.Config{})
	e.account("next@example.com", "N", "the right password", nil)
	for _, tc := range []struct{ next, want string }{
		{"/\t/evil.example", "/orders"},
		{"/\\evil.example", "/orders"},
		{"//evil.example", "/orders"},
		{"/cart", "/cart"},
	} {
		b := e.browser()
		if res := b.get("/account/login?next=" + url.QueryEscape(tc.next)); strings.Contains(string(res.body), "evil.example") {
			t.Fatalf("the form carries %q", tc.next)
		}
		res := b.post("/account/login", url.Values{"email": {"next@example.com"}, "password": {"the right password"}, "next": {tc.next}})
		if res.code != 303 || res.header.Get("Location") != tc.want {
			t.Errorf("next=%q: %d Location %q, want %q", tc.next, res.code, res.header.Get("Location"), tc.want)
		}
	}
}

// tagRe matches an HTML tag, to read a page's visible text.
var tagRe = regexp.MustCompile(`<[^>]*>`)

// noCodes fails when a page shows customers the price list's internal codes
// (issue 17): products, materials and finishes have names.
func noCodes(t *testing.T, page string, body []byte) {
	t.Helper()
	visible := tagRe.ReplaceAllString(string(body), " ")
	for _, code := range []string{"laser_cut_sheet", "steel_s235", "powder_coat", "standard", "rush"} {
		if strings.Contains(visible, code) {
			t.Errorf("the %s shows the code %q", page, code)
		}
	}
}

// gatewayClient is the gateway's side of the identity token for tests: a
// verifier for the shop, and the headers of a request the gateway forwards
// for a client at ip (none for "": the socket peer is the client then).
func gatewayClient(t *testing.T) (*identity.Verifier, func(ip string) map[string]string) {
	t.Helper()
	pub, priv, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer := identity.NewSigner(priv)
	return identity.NewVerifier("shop", pub), func(ip string) map[string]string {
		if ip == "" {
			return nil
		}
		tok, err := signer.Sign("shop", identity.Identity{ClientAddr: ip}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{identity.Header: tok}
	}
}
