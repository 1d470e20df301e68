//go:build browser

package main

// The browser suite: every role's walk through the whole platform in
// headless Chromium, driven with chromedp (go test -tags browser). Every step
// fails on a console error, a CSP violation, an uncaught exception, a 5xx or
// an unstyled page, and leaves a screenshot under the artefacts folder the
// run prints ($FABRIKA_BROWSER_ARTIFACTS, or a temp folder).

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium finds the browser: $FABRIKA_CHROMIUM or chromium on the PATH.
// Missing is a failure, never a skip: CI installs it.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FABRIKA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: install the Debian package chromium (apt-get install -y chromium) or set FABRIKA_CHROMIUM")
	return ""
}

var artefactsOnce sync.Once

// artefacts is the folder screenshots go to, printed once per run.
func artefacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FABRIKA_BROWSER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "fabrika-browser-"+time.Now().UTC().Format("20060102-150405"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	artefactsOnce.Do(func() { fmt.Fprintf(os.Stderr, "browser screenshots: %s\n", dir) })
	return dir
}

// browser is one person's browser (its own profile and cookies).
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	dir   string
	who   string
	step  int
	mu    sync.Mutex
	fault []string
	// expect is a status the next page is meant to answer with (a form
	// re-rendered with its message); the browser's log line about it is
	// not a fault.
	expect int
}

func newBrowser(t *testing.T, base, who string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: base, dir: filepath.Join(artefacts(t), who), who: who}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Listen starts the browser; chromedp enables the runtime, log and
	// network domains of every target.
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.report("console %s: %s", e.Type, strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.report("uncaught exception: %s (%s:%d)", msg, d.URL, d.LineNumber)
		case *cdplog.EventEntryAdded:
			// CSP violations and failed loads arrive here.
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Source == cdplog.EntrySourceSecurity {
				b.report("log %s/%s: %s %s", e.Entry.Source, e.Entry.Level, e.Entry.Text, e.Entry.URL)
			}
		case *network.EventResponseReceived:
			if e.Response.Status >= 500 {
				b.report("%d from %s", e.Response.Status, e.Response.URL)
			}
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *browser) report(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fault = append(b.fault, fmt.Sprintf(format, args...))
}

// run runs steps with a deadline; a failure is fatal.
func (b *browser) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.shot("failed-" + what)
		b.t.Fatalf("%s: %s: %v (at %s)", b.who, what, err, b.url())
	}
}

// value runs an action that reads something; a failure is fatal.
func value[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.shot("failed-" + what)
		b.t.Fatalf("%s: %s: %v (at %s)", b.who, what, err, b.url())
	}
	return v
}

func (b *browser) url() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	u, _ := chromedp.Run(ctx, chromedp.Location())
	return u
}

// open loads a page of the platform and checks it.
func (b *browser) open(name, path string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("body")))
	b.check(name)
}

// submit clicks a button that posts a form and waits for the next page.
func (b *browser) submit(name, button string) {
	b.t.Helper()
	value(b, "mark the page", chromedp.Evaluate[bool](`window.__fabrikaOld = true`))
	b.run("submit "+button, chromedp.Click(chromedp.CSS(button), chromedp.NodeVisible))
	b.until("the next page", `!window.__fabrikaOld && document.readyState === "complete"`)
	b.check(name)
}

// until waits for a JavaScript condition to hold, across navigations (an
// evaluation that meets a page being replaced is tried again).
func (b *browser) until(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.shot("failed-" + what)
			b.t.Fatalf("%s: waiting for %s: %v (at %s)", b.who, what, err, b.url())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// refused submits a form that the platform answers with status (a
// re-rendered form with its message).
func (b *browser) refused(name, button string, status int) {
	b.t.Helper()
	b.mu.Lock()
	b.expect = status
	b.mu.Unlock()
	b.submit(name, button)
}

// fill sets form fields by CSS selector (inputs, text areas, selects).
func (b *browser) fill(fields map[string]string) {
	b.t.Helper()
	for sel, v := range fields {
		// Set the value as a person's typing does: the field's input and
		// change events fire (the live quote listens to them).
		js := `(() => { const e = document.querySelector(` + strconv.Quote(sel) + `); if (!e) return false; e.value = ` + strconv.Quote(v) + `;
  e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); return e.value === ` + strconv.Quote(v) + `; })()`
		if !value(b, "fill "+sel, chromedp.Evaluate[bool](js)) {
			b.shot("failed-fill")
			b.t.Fatalf("%s: cannot fill %s with %q (at %s)", b.who, sel, v, b.url())
		}
	}
}

// tick ticks a check box.
func (b *browser) tick(sel string) {
	b.t.Helper()
	js := `(() => { const e = document.querySelector(` + strconv.Quote(sel) + `); if (!e) return false; e.checked = true; return true; })()`
	if !value(b, "tick "+sel, chromedp.Evaluate[bool](js)) {
		b.shot("failed-tick")
		b.t.Fatalf("%s: no check box %s (at %s)", b.who, sel, b.url())
	}
}

// text returns the page's visible text.
func (b *browser) text() string {
	b.t.Helper()
	return value(b, "read the page", chromedp.Text(chromedp.CSS("body")))
}

// see fails unless the page shows each of texts.
func (b *browser) see(texts ...string) {
	b.t.Helper()
	page := b.text()
	for _, s := range texts {
		if !strings.Contains(page, s) {
			b.shot("missing")
			b.t.Fatalf("%s at %s: the page does not show %q:\n%s", b.who, b.url(), s, page)
		}
	}
}

// styled is the check every page passes: its style sheets loaded and the
// layout's header painted (an unstyled header is transparent).
const styled = `(() => {
  const sheets = Array.from(document.styleSheets).filter(s => { try { return s.cssRules.length > 0 } catch (e) { return false } });
  if (sheets.length === 0) return "no style sheet applied";
  const h = document.querySelector("header");
  if (!h) return "no header";
  const bg = getComputedStyle(h).backgroundColor;
  if (bg === "rgba(0, 0, 0, 0)" || bg === "transparent") return "the header has no background";
  return "";
})()`

// check fails the walk on an unstyled page or on anything the browser
// reported, and keeps a screenshot of the step.
func (b *browser) check(name string) {
	b.t.Helper()
	b.shot(name)
	if why := value(b, "style check", chromedp.Evaluate[string](styled)); why != "" {
		b.t.Errorf("%s: %s is unstyled: %s", b.who, b.url(), why)
	}
	// Console and log events arrive asynchronously: a frame and a round
	// trip to the page let the ones of this page arrive before reading.
	value(b, "settle", chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => setTimeout(() => r(true), 50)))`,
		chromedp.EvalAwaitPromise))
	b.mu.Lock()
	var fault []string
	for _, f := range b.fault {
		if b.expect == 0 || !strings.Contains(f, fmt.Sprintf("the server responded with a status of %d ", b.expect)) {
			fault = append(fault, f)
		}
	}
	b.fault, b.expect = nil, 0
	b.mu.Unlock()
	if len(fault) > 0 {
		b.t.Fatalf("%s at %s (%s):\n%s", b.who, b.url(), name, strings.Join(fault, "\n"))
	}
}

// shot writes a PNG of the viewport under the artefacts folder.
func (b *browser) shot(name string) {
	b.step++
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	file := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.step, slug(name)))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

// gallery writes a half-size PNG of the page for docs/gallery.md when
// $FABRIKA_BROWSER_GALLERY names a folder (go test ... with
// FABRIKA_BROWSER_GALLERY=$PWD/docs/gallery regenerates it).
func (b *browser) gallery(file string) {
	b.t.Helper()
	dir := os.Getenv("FABRIKA_BROWSER_GALLERY")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Clip: &page.Viewport{Width: 1280, Height: 800, Scale: 0.5}})
	if err != nil {
		b.t.Fatalf("gallery %s: %v", file, err)
	}
	if err := os.WriteFile(filepath.Join(dir, file+".png"), res.Data, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	return strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// staffSignIn signs in at the gateway's staff page.
func (b *browser) staffSignIn(login string) {
	b.t.Helper()
	b.open("staff sign-in", "/staff/login")
	b.fill(map[string]string{`input[name="login"]`: login, `input[name="password"]`: staffPassword})
	b.submit("signed in", `form[action="/staff/login"] button`)
}

// notFound opens a path no page serves: the area's own 404 page, styled,
// never net/http's bare text or raw problem+json.
func (b *browser) notFound(path string) {
	b.t.Helper()
	b.mu.Lock()
	b.expect = http.StatusNotFound
	b.mu.Unlock()
	b.open("not found "+path, path)
	page := b.text()
	if strings.Contains(page, "404 page not found") || strings.HasPrefix(strings.TrimSpace(page), "{") ||
		!strings.Contains(strings.ToLower(page), "not found") || !strings.Contains(page, path) {
		b.shot("failed-not-found")
		b.t.Fatalf("%s: %s is not the area's 404 page:\n%s", b.who, path, page)
	}
}

// count counts the elements a CSS selector matches.
func (b *browser) count(sel string) int {
	b.t.Helper()
	return value(b, "count "+sel, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
}

// TestBrowserWalks walks each role through one order's life, in a browser:
// the customer configures and orders, the admin creates staff, the manager
// confirms, holds, notes and compensates, the operator produces and ships,
// and the customer sees it shipped with the compensation.
func TestBrowserWalks(t *testing.T) {
	r := startMain(t, func(ctx context.Context, m *Main) {
		seedStaff(ctx, t, m, staffAccount{login: "root", role: "admin"})
	})
	customer := newBrowser(t, r.public, "customer")
	admin := newBrowser(t, r.public, "admin")
	manager := newBrowser(t, r.public, "manager")
	operator := newBrowser(t, r.public, "operator")

	// Customer: browse, configure with the live quote, sign up, cart, order.
	customer.open("catalogue", "/")
	customer.open("product", "/catalog/laser_cut_sheet")
	customer.fill(map[string]string{`select[name="material"]`: "steel_s235", `select[name="finish"]`: "powder_coat"})
	// Typed key by key, a dimension is for a moment a smaller number (the 1
	// of 100); on a slow machine the live quote asks for that one too and it
	// is rightly refused with 422 before the whole value is priced.
	customer.mu.Lock()
	customer.expect = http.StatusUnprocessableEntity
	customer.mu.Unlock()
	customer.run("type the dimensions",
		chromedp.Clear(chromedp.CSS(`input[name="width_mm"]`)), chromedp.SendKeys(chromedp.CSS(`input[name="width_mm"]`), "200"),
		chromedp.Clear(chromedp.CSS(`input[name="height_mm"]`)), chromedp.SendKeys(chromedp.CSS(`input[name="height_mm"]`), "100"),
		chromedp.Clear(chromedp.CSS(`input[name="thickness_mm"]`)), chromedp.SendKeys(chromedp.CSS(`input[name="thickness_mm"]`), "2"),
		chromedp.Clear(chromedp.CSS(`input[name="quantity"]`)), chromedp.SendKeys(chromedp.CSS(`input[name="quantity"]`), "10"))
	customer.until("the live quote", `document.querySelector("#quote").innerText.includes("per part")`)
	customer.check("live quote")
	customer.gallery("shop-product")
	customer.open("sign up", "/account/signup")
	email := fmt.Sprintf("ada-%d@example.com", time.Now().UnixNano())
	customer.fill(map[string]string{`input[name="name"]`: "Ada Buyer", `input[name="email"]`: email,
		`input[name="password"]`: "correct horse battery staple"})
	customer.submit("signed up", `form[action="/account/signup"] button`)
	customer.open("product again", "/catalog/laser_cut_sheet")
	customer.fill(map[string]string{`select[name="material"]`: "steel_s235", `select[name="finish"]`: "powder_coat",
		`input[name="width_mm"]`: "200", `input[name="height_mm"]`: "100", `input[name="thickness_mm"]`: "2", `input[name="quantity"]`: "10"})
	customer.submit("cart", `button[value="add"]`)
	customer.see("Cart")
	customer.open("checkout", "/checkout")
	customer.fill(map[string]string{`[name="delivery.line1"]`: "Hauptstrasse 1", `[name="delivery.postal_code"]`: "10115",
		`[name="delivery.city"]`: "Berlin", `[name="delivery.country"]`: "DE", `[name="contact.name"]`: "Ada Buyer",
		`[name="contact.email"]`: email, `[name="contact.phone"]`: "+49 30 123456"})
	customer.submit("order placed", `form[action="/orders"] button[type="submit"]`)
	orderURL := customer.url()
	number := strings.TrimPrefix(strings.SplitN(orderURL, "?", 2)[0], r.public+"/orders/")
	if !strings.HasPrefix(number, "FAB-") && !strings.Contains(number, "-") {
		t.Fatalf("placing the order led to %s", orderURL)
	}
	customer.see(number)
	customer.gallery("shop-order-placed")
	customer.open("my orders", "/orders")
	customer.see(number)

	// Admin: the first admin (created by `fabrika admin create`) signs in
	// and creates the manager's and the operator's accounts.
	admin.staffSignIn("root")
	// The workstations come from the MES: the gateway learns them from the
	// price list mes-calc publishes, and the form offers them to tick.
	eventually(t, 60*time.Second, "the MES's workstations on the staff page", func() (bool, string) {
		admin.open("staff accounts", "/staff/admin/staff")
		return admin.count(`form[action="/staff/admin/staff"] input[type="checkbox"][name="workstations"]`) == len(demoStations()), admin.text()
	})
	admin.see("Fibre laser cutter", "Dispatch bench")
	for _, acc := range []struct {
		login, role string
		ws          []string
	}{{"mia", "manager", nil}, {"otto", "operator", demoStations()}} {
		admin.open("staff accounts", "/staff/admin/staff")
		admin.fill(map[string]string{`form[action="/staff/admin/staff"] input[name="login"]`: acc.login,
			`form[action="/staff/admin/staff"] select[name="role"]`:    acc.role,
			`form[action="/staff/admin/staff"] input[name="password"]`: staffPassword})
		for _, w := range acc.ws {
			admin.tick(`form[action="/staff/admin/staff"] input[name="workstations"][value="` + w + `"]`)
		}
		admin.submit("created "+acc.login, `form[action="/staff/admin/staff"] button[type="submit"]`)
		admin.see(acc.login)
	}
	admin.open("staff accounts", "/staff/admin/staff")
	admin.gallery("staff-accounts")

	// B2B admin: from the staff pages to the API clients; a client and a
	// key, its secret shown once and working at /api/v1/; rolled (the old
	// one refused) and revoked (refused too).
	admin.submit("API clients", `header a[href="/b2b/clients"]`)
	admin.see("API clients", "New client")
	admin.fill(map[string]string{`form[action="/b2b/clients"] input[name="name"]`: "Gear Works GmbH",
		`form[action="/b2b/clients"] input[name="email"]`: "it@gear-works.example"})
	admin.submit("client created", `form[action="/b2b/clients"] button[type="submit"]`)
	admin.see("Client created.", "Gear Works GmbH", "No keys yet.")
	admin.tick(`form[action$="/keys"] input[name="scopes"][value="orders:write"]`)
	admin.fill(map[string]string{`form[action$="/keys"] input[name="rate"]`: "120"})
	admin.submit("key made", `form[action$="/keys"] button[type="submit"]`)
	admin.see("shown only on this page", "orders:read, orders:write", "120 requests a minute")
	key := value(admin, "read the key", chromedp.Evaluate[string](`document.querySelector("#api-key").textContent`))
	admin.gallery("b2b-key-shown-once")
	apiStatus := func(key string) int {
		t.Helper()
		c := newClient(t, r.public)
		c.header.Set("Authorization", "Bearer "+key)
		return c.do("GET", "/api/v1/orders", nil, nil).code
	}
	if code := apiStatus(key); code != http.StatusOK {
		t.Fatalf("the key from the page: GET /api/v1/orders answered %d", code)
	}
	admin.open("API clients", "/b2b/clients")
	admin.see("Gear Works GmbH", key[:len("fk_live_")+8], "orders:write", "last used")
	if strings.Contains(admin.text(), key) {
		t.Fatal("the clients list shows the key's secret again")
	}
	admin.gallery("b2b-clients")
	admin.submit("client", `table a[href^="/b2b/clients/"]`)
	admin.submit("roll asked", `table.keys a[href$="/roll"]`)
	admin.see("Roll the key")
	admin.submit("key rolled", `form[action$="/roll"] button`)
	rolled := value(admin, "read the rolled key", chromedp.Evaluate[string](`document.querySelector("#api-key").textContent`))
	if rolled == key || !strings.HasPrefix(rolled, "fk_live_") {
		t.Fatalf("rolled key %q (was %q)", rolled, key)
	}
	if code := apiStatus(key); code != http.StatusUnauthorized {
		t.Errorf("the rolled-over key: %d, want 401", code)
	}
	if code := apiStatus(rolled); code != http.StatusOK {
		t.Errorf("the new key: %d, want 200", code)
	}
	admin.submit("client again", `main a[href^="/b2b/clients/"]`)
	admin.submit("revoke asked", `table.keys a[href$="/revoke"]`)
	admin.see("Revoke the key")
	admin.submit("key revoked", `form[action$="/revoke"] button`)
	admin.see("Key revoked")
	if admin.count(`table.keys a[href$="/roll"]`) != 0 {
		t.Error("a revoked key still offers Roll")
	}
	admin.gallery("b2b-client")
	if code := apiStatus(rolled); code != http.StatusUnauthorized {
		t.Errorf("the revoked key: %d, want 401", code)
	}

	// One 404 page per area, in the area's look (an admin may open every
	// staff area); the API answers problem+json.
	for _, path := range []string{"/no-such", "/staff/nope", "/crm/nope", "/mes/nope", "/b2b/nope"} {
		admin.notFound(path)
	}
	admin.gallery("b2b-not-found")
	if res := newClient(t, r.public).do("GET", "/api/nope", nil, map[string]string{"Accept": "text/html"}); res.code != http.StatusNotFound ||
		res.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("GET /api/nope: %s, want 404 problem+json", res)
	}

	// Manager: orders list, filters, search, the card, confirm once priced.
	manager.staffSignIn("mia")
	manager.open("orders", "/crm/orders")
	manager.gallery("crm-orders")
	manager.fill(map[string]string{`form.filters input[name="q"]`: number})
	manager.submit("search", `form.filters button`)
	manager.see(number)
	manager.open("filter by channel", "/crm/orders?channel=shop")
	manager.see(number)
	var cardURL string
	eventually(t, 60*time.Second, "the order priced in the CRM", func() (bool, string) {
		manager.open("search", "/crm/orders?q="+number)
		manager.submit("order card", `table a[href^="/crm/orders/"]`)
		cardURL = manager.url()
		return manager.count(`form[action$="/confirm"]`) == 1, manager.text()
	})
	orderID := cardURL[strings.LastIndex(cardURL, "/")+1:]
	manager.submit("confirmed", `form[action$="/confirm"] button`)
	manager.see("Done: confirm.")
	if manager.count(`form[action$="/confirm"]`) != 0 {
		t.Fatal("a confirmed order still offers Confirm")
	}
	manager.submit("on hold", `form[action$="/hold"] button`)
	manager.see("on hold")
	manager.submit("resumed", `form[action$="/resume"] button`)
	manager.fill(map[string]string{`form[action$="/notes"] textarea`: "Customer asked for careful packing."})
	manager.submit("note added", `form[action$="/notes"] button`)
	manager.see("Customer asked for careful packing.")
	manager.fill(map[string]string{`form[action$="/compensations"] input[name="amount"]`: "12.50",
		`form[action$="/compensations"] input[name="reason"]`: "late delivery"})
	manager.submit("compensation granted", `form[action$="/compensations"] button`)
	manager.see("12.50 EUR")
	// The lines by name, and the order assigned to a manager's account
	// from the gateway's staff (staff.changed).
	manager.see("Laser-cut sheet part", "Steel S235 · 200 × 100 × 2 mm · Powder coating")
	eventually(t, 60*time.Second, "mia offered as manager", func() (bool, string) {
		manager.open("order card", "/crm/orders/"+orderID)
		return manager.count(`form[action$="/assign"] option[value="mia"]`) == 1, manager.text()
	})
	manager.fill(map[string]string{`form[action$="/assign"] select[name="manager"]`: "mia"})
	manager.submit("assigned", `form[action$="/assign"] button`)
	manager.see("Manager: mia")
	manager.gallery("crm-order-card")
	manager.open("stuck orders", "/crm/stuck")
	manager.open("customers", "/crm/customers?q=ada")
	manager.see("Ada Buyer")
	manager.submit("customer card", `table a[href^="/crm/customers/"]`)
	manager.see("Ada Buyer", number)
	manager.gallery("crm-customer-card")

	// Operator: each step of the order at its workstation: start, pause,
	// resume, record, finish with the good count; then ship.
	operator.staffSignIn("otto")
	operator.open("workstations", "/mes/")
	var steps []string
	eventually(t, 60*time.Second, "the order on the shop floor", func() (bool, string) {
		operator.open("order on the floor", "/mes/orders/"+orderID)
		steps = value(operator, "list the steps", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("table a[href^='/mes/workstations/']")).map(a => a.getAttribute("href"))`))
		page := operator.text()
		// The job card: what to make, and the manager's note.
		return len(steps) > 0 && strings.Contains(page, "Customer asked for careful packing.") && strings.Contains(page, "What to make"), page
	})
	for i, ws := range steps {
		card := fmt.Sprintf(`section.card:has(a[href="/mes/orders/%s"])`, orderID)
		operator.open(fmt.Sprintf("queue %d", i+1), ws)
		height := value(operator, "button height", chromedp.Evaluate[float64](`document.querySelector('`+card+` button.start').getBoundingClientRect().height`))
		if height < 64 {
			t.Errorf("the Start button is %.0f px high, want 64 px or more (unstyled?)", height)
		}
		operator.submit("started", card+` button.start`)
		if i == 0 {
			operator.see("10 × Laser-cut sheet part", "Steel S235", "200 × 100 × 2", "Powder coating")
			// Finishing with no part counted is refused, by the field.
			operator.refused("finish refused", card+` form[action$="/finish"] button`, 422)
			operator.see("only 0 of 10 parts are counted")
			operator.fill(map[string]string{card + ` form[action$="/pause"] input[name="reason"]`: "Material missing"})
			operator.submit("paused", card+` button.pause`)
			operator.see("paused: Material missing")
			operator.gallery("mes-queue")
			operator.submit("resumed", card+` button.resume`)
			operator.fill(map[string]string{card + ` form[action$="/record"] input[name="good_qty"]`: "4"})
			operator.submit("recorded", card+` form[action$="/record"] button`)
			operator.see("good 4")
			operator.fill(map[string]string{card + ` form[action$="/finish"] input[name="good_qty"]`: "6"})
		} else {
			operator.fill(map[string]string{card + ` form[action$="/finish"] input[name="good_qty"]`: "10"})
		}
		operator.submit("finished", card+` form[action$="/finish"] button`)
	}
	operator.open("order produced", "/mes/orders/"+orderID)
	operator.see("produced")
	operator.fill(map[string]string{`input[name="carrier"]`: "DHL", `input[name="tracking_number"]`: "JJD0001"})
	operator.submit("shipped", `form[action$="/ship"] button`)
	operator.see("JJD0001")
	operator.gallery("mes-order-shipped")

	// Customer: the order through to shipped, with the compensation.
	eventually(t, 60*time.Second, "the order shipped in the shop", func() (bool, string) {
		customer.open("order shipped", "/orders/"+number)
		page := customer.text()
		return strings.Contains(page, "JJD0001") && strings.Contains(page, "12.50"), page
	})
	customer.gallery("shop-order-shipped")
	// The manager's card shows it shipped too.
	manager.open("card shipped", "/crm/orders/"+orderID)
	manager.see("shipped", "On the shop floor", "the last finished", "by otto")
}
