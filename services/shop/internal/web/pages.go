package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/text"
	"github.com/fabrika/fabrika/platform/webasset"
	"github.com/fabrika/fabrika/services/shop/internal/app"
	"github.com/fabrika/fabrika/services/shop/internal/order"
)

type pages struct {
	byName map[string]*template.Template
	static http.Handler
}

var funcs = template.FuncMap{
	"money": func(amount int64, currency string) string {
		sign := ""
		if amount < 0 {
			sign, amount = "-", -amount
		}
		return fmt.Sprintf("%s%d.%02d %s", sign, amount/100, amount%100, currency)
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2 Jan 2006 15:04 UTC")
	},
	"label":       order.Label,
	"statusLabel": order.StatusLabel,
	"err": func(m map[string]string, k string) string {
		return m[k]
	},
	"val": func(v url.Values, k string) string { return v.Get(k) },
	"opt": func(m map[string]string, k string) string { return m[k] },
	"lineErrors": func(m map[string]string) []string {
		var out []string
		for k, v := range m {
			if strings.HasPrefix(k, "lines") || k == "cart" || k == "idempotency_key" {
				out = append(out, k+": "+v)
			}
		}
		sort.Strings(out)
		return out
	},
	"describe": func(l app.Labels, opts map[string]string) string {
		var b strings.Builder
		for _, k := range []string{contracts.OptMaterial, contracts.OptWidth, contracts.OptHeight, contracts.OptThickness, contracts.OptFinish} {
			v := opts[k]
			if v == "" || (k == contracts.OptFinish && v == "none") {
				continue
			}
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			switch k {
			case contracts.OptWidth, contracts.OptHeight, contracts.OptThickness:
				b.WriteString(strings.TrimSuffix(k, "_mm") + " " + v + " mm")
			default:
				b.WriteString(l.Name(k, v))
			}
		}
		return b.String()
	},
	"codeName": func(l app.Labels, kind, code string) string { return l.Name(kind, code) },
	"leadLabel": func(lead string) string {
		if lead == contracts.LeadRush {
			return "Rush"
		}
		return "Standard"
	},
	"countries": func() []text.Country {
		cs := text.Countries()
		slices.SortFunc(cs, func(a, b text.Country) int { return strings.Compare(a.Name, b.Name) })
		return cs
	},
	"countryName": func(code string) string {
		if n := text.CountryName(code); n != "" {
			return n
		}
		return code
	},
}

// parsePages reads the templates and the static files; notFound answers a
// path below /static/ that is no file.
func parsePages(notFound http.Handler) (*pages, error) {
	byName, err := webasset.Pages(assets, funcs)
	if err != nil {
		return nil, err
	}
	p := &pages{byName: byName}
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	if p.static, err = webasset.New(sub, "/static/", notFound); err != nil {
		return nil, err
	}
	return p, nil
}

// view is what every page template gets.
type view struct {
	Title    string
	Customer *app.Customer
	Labels   app.Labels // names of the price list's codes
	CSRF     string
	Message  string            // an error for the top of the form
	Notice   string            // a confirmation
	Errors   map[string]string // field -> message, shown next to the field
	Form     url.Values
	Data     any
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, v view) {
	t, ok := h.pages.byName[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	v.Customer = customer(r.Context())
	v.CSRF = h.csrfToken(w, r)
	if name == "cart" || name == "order" || name == "checkout" {
		v.Labels = h.shop.Labels(r.Context())
	}
	if v.Form == nil {
		v.Form = url.Values{}
	}
	if v.Errors == nil {
		v.Errors = map[string]string{}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		h.log.ErrorContext(r.Context(), "render page", "page", name, "error", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "private, no-store")
	}
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}

// pageError shows an error page for an error that is not about a form.
func (h *Handler) pageError(w http.ResponseWriter, r *http.Request, err error) {
	code := status(err)
	msg, _ := formErrors(err)
	if code == http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "error", err)
		msg = "Something went wrong on our side; it has been logged. Please try again."
	}
	if errors.Is(err, app.ErrNoPriceList) {
		msg = "Our price list has not arrived yet, so we cannot show prices. Please come back in a few minutes."
	}
	if e, ok := app.AsError(err); ok && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	h.render(w, r, code, "error", view{Title: http.StatusText(code), Message: msg})
}

// notFound is the shop's 404 page for any path it does not serve.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusNotFound, "error", view{Title: http.StatusText(http.StatusNotFound), Message: "There is no page at " + r.URL.Path + "."})
}

func (h *Handler) pageRoutes() {
	m := h.mux
	// Any other path: the shop's own page, never net/http's plain text.
	m.HandleFunc("/", h.notFound)
	m.Handle("GET /static/", h.pages.static)
	// Browsers ask every site for /favicon.ico, also on pages that name no
	// icon (the gateway's staff pages): the shop owns the site's root.
	m.Handle("GET /favicon.ico", http.RedirectHandler("/static/favicon.svg", http.StatusMovedPermanently))
	m.HandleFunc("GET /{$}", h.catalogPage)
	m.HandleFunc("GET /catalog", h.catalogPage)
	m.HandleFunc("GET /catalog/{code}", h.productPage)
	m.HandleFunc("POST /catalog/{code}", h.form(h.productPost))
	m.HandleFunc("GET /cart", h.signedIn(h.cartPage))
	m.HandleFunc("POST /cart/{id}/remove", h.form(h.signedIn(h.cartRemove)))
	m.HandleFunc("GET /checkout", h.signedIn(h.checkoutPage))
	m.HandleFunc("POST /orders", h.form(h.signedIn(h.placeOrderPost)))
	m.HandleFunc("GET /orders", h.signedIn(h.ordersPage))
	m.HandleFunc("GET /orders/{ref}", h.signedIn(h.orderPage))
	m.HandleFunc("POST /orders/{ref}/cancel", h.form(h.signedIn(h.cancelPost)))
	m.HandleFunc("GET /account/signup", h.signUpPage)
	m.HandleFunc("POST /account/signup", h.form(h.signUpPost))
	m.HandleFunc("GET /account/login", h.loginPage)
	m.HandleFunc("POST /account/login", h.form(h.loginPost))
	m.HandleFunc("POST /account/logout", h.form(h.logoutPost))
	m.HandleFunc("GET /account/confirm", h.tokenPage("confirm", "Confirm your e-mail address"))
	m.HandleFunc("POST /account/confirm", h.form(h.confirmPost))
	m.HandleFunc("GET /account/forgot", h.forgotPage)
	m.HandleFunc("POST /account/forgot", h.form(h.forgotPost))
	m.HandleFunc("GET /account/reset", h.tokenPage("reset", "Choose a new password"))
	m.HandleFunc("POST /account/reset", h.form(h.resetPost))
	m.HandleFunc("GET /account", h.signedIn(h.accountPage))
	m.HandleFunc("POST /account/password", h.form(h.signedIn(h.passwordPost)))
}

// form refuses a cross-origin post, parses the form within the body limit
// and checks its CSRF token.
func (h *Handler) form(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.sameOrigin.Check(r) != nil {
			h.render(w, r, http.StatusForbidden, "error", view{Title: "Refused",
				Message: "This form did not come from our site. Go back, reload the page and try again."})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBody)
		if err := r.ParseForm(); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				h.render(w, r, http.StatusRequestEntityTooLarge, "error", view{Title: "Too large", Message: "The form is too large."})
				return
			}
			h.render(w, r, http.StatusBadRequest, "error", view{Title: "Bad request", Message: "The form could not be read."})
			return
		}
		if !csrfOK(r) {
			h.render(w, r, http.StatusForbidden, "error", view{Title: "Form expired",
				Message: "This form has expired or did not come from our site. Go back, reload the page and try again."})
			return
		}
		next(w, r)
	}
}

func (h *Handler) signedIn(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if customer(r.Context()) == nil {
			next := r.URL.Path
			if r.Method != http.MethodGet {
				next = "/cart"
			}
			http.Redirect(w, r, "/account/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		next(w, r)
	}
}

// pageETag is the validator of a catalogue page: it changes with the price
// list and with who is looking (the page shows the customer and carries the
// browser's CSRF token).
func pageETag(version int64, r *http.Request, csrf string) string {
	who := csrf + "\x00" + r.URL.RawQuery
	if c := customer(r.Context()); c != nil {
		who += c.ID
	}
	sum := sha256.Sum256([]byte(who))
	return fmt.Sprintf(`W/"pl-%d-%s"`, version, hex.EncodeToString(sum[:6]))
}

const privateRevalidate = "private, no-cache"

func (h *Handler) catalogPage(w http.ResponseWriter, r *http.Request) {
	cat, err := h.shop.Catalog(r.Context())
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	w.Header().Set("Vary", "Cookie")
	if notModified(w, r, pageETag(cat.Version, r, h.csrfToken(w, r)), privateRevalidate) {
		return
	}
	h.render(w, r, http.StatusOK, "catalog", view{Title: "Catalogue", Data: cat})
}

type productView struct {
	Catalog *app.Catalog
	Product app.Product
	Quote   *app.Price
}

var configFields = []string{contracts.OptMaterial, contracts.OptFinish, contracts.OptWidth, contracts.OptHeight, contracts.OptThickness}

func defaultForm(p app.Product) url.Values {
	f := url.Values{}
	if len(p.Materials) > 0 {
		f.Set(contracts.OptMaterial, p.Materials[0].Code)
	}
	f.Set(contracts.OptFinish, "none")
	mid := func(rg contracts.Range) string {
		return strconv.FormatFloat(clamp((rg.Min+rg.Max)/10, rg.Min, rg.Max), 'f', -1, 64)
	}
	f.Set(contracts.OptWidth, mid(p.Width))
	f.Set(contracts.OptHeight, mid(p.Height))
	f.Set(contracts.OptThickness, strconv.FormatFloat(p.Thickness.Min*2, 'f', -1, 64))
	if p.Thickness.Min*2 > p.Thickness.Max {
		f.Set(contracts.OptThickness, strconv.FormatFloat(p.Thickness.Min, 'f', -1, 64))
	}
	f.Set("quantity", "10")
	f.Set("lead", contracts.LeadStandard)
	return f
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, float64(int(v)))) }

func (h *Handler) productPage(w http.ResponseWriter, r *http.Request) {
	cat, p, err := h.shop.Product(r.Context(), r.PathValue("code"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	w.Header().Set("Vary", "Cookie")
	if notModified(w, r, pageETag(cat.Version, r, h.csrfToken(w, r)), privateRevalidate) {
		return
	}
	// The configuration comes from the query when there is one (a customer
	// back from signing in to add it to the cart), else the defaults; its
	// price is shown at once.
	f := defaultForm(p)
	q := r.URL.Query()
	for _, k := range append(slices.Clone(configFields), "quantity", "lead") {
		if v := strings.TrimSpace(q.Get(k)); v != "" && len(v) <= 40 {
			f.Set(k, v)
		}
	}
	v := view{Title: p.Name, Form: f}
	pv := productView{Catalog: cat, Product: p}
	if l, fe := lineFromForm(p.Code, f); len(fe) == 0 {
		if price, err := h.shop.Quote(r.Context(), l); err == nil {
			pv.Quote = &price
		} else if _, ok := app.AsError(err); ok {
			v.Message, v.Errors = formErrors(err)
		} else {
			h.pageError(w, r, err)
			return
		}
	}
	if q.Get("signin") != "" && customer(r.Context()) != nil {
		v.Message = "You are signed in: add the part to your cart."
	}
	v.Data = pv
	h.render(w, r, http.StatusOK, "product", v)
}

// configQuery is a configured part as the query of its product page.
func configQuery(f url.Values) url.Values {
	q := url.Values{}
	for _, k := range append(slices.Clone(configFields), "quantity", "lead") {
		if v := f.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// lineFromForm reads a configured part from a form.
func lineFromForm(product string, f url.Values) (contracts.Config, map[string]string) {
	l := contracts.Config{Product: product, Options: map[string]string{}, Lead: f.Get("lead")}
	for _, k := range configFields {
		if v := strings.TrimSpace(f.Get(k)); v != "" {
			l.Options[k] = v
		}
	}
	fe := map[string]string{}
	q, err := strconv.Atoi(strings.TrimSpace(f.Get("quantity")))
	if err != nil {
		fe["quantity"] = "enter a whole number"
	}
	l.Quantity = q
	req := order.Request{Lines: []contracts.Config{l}}
	req.Normalize()
	return req.Lines[0], fe
}

func (h *Handler) productPost(w http.ResponseWriter, r *http.Request) {
	cat, p, err := h.shop.Product(r.Context(), r.PathValue("code"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	v := view{Title: p.Name, Form: r.PostForm}
	pv := productView{Catalog: cat, Product: p}
	l, fe := lineFromForm(p.Code, r.PostForm)
	if len(fe) > 0 {
		v.Message, v.Errors, v.Data = "Please correct the fields marked below.", fe, pv
		h.render(w, r, http.StatusUnprocessableEntity, "product", v)
		return
	}
	if r.PostFormValue("action") == "add" {
		c := customer(r.Context())
		if c == nil {
			// Sign in, then back to this product as configured.
			q := configQuery(r.PostForm)
			q.Set("signin", "1")
			next := "/catalog/" + url.PathEscape(p.Code) + "?" + q.Encode()
			http.Redirect(w, r, "/account/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		if err := h.shop.AddToCart(r.Context(), *c, l); err != nil {
			v.Message, v.Errors = formErrors(err)
			v.Data = pv
			h.render(w, r, status(err), "product", v)
			return
		}
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
		return
	}
	q, err := h.shop.Quote(r.Context(), l)
	if err != nil {
		v.Message, v.Errors = formErrors(err)
		v.Data = pv
		h.render(w, r, status(err), "product", v)
		return
	}
	pv.Quote = &q
	v.Data = pv
	h.render(w, r, http.StatusOK, "product", v)
}

func (h *Handler) cartPage(w http.ResponseWriter, r *http.Request) {
	cart, err := h.shop.Cart(r.Context(), *customer(r.Context()))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "cart", view{Title: "Your cart", Data: cart})
}

func (h *Handler) cartRemove(w http.ResponseWriter, r *http.Request) {
	if err := h.shop.RemoveFromCart(r.Context(), *customer(r.Context()), r.PathValue("id")); err != nil {
		h.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

type checkoutView struct {
	Cart app.Cart
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (h *Handler) checkoutPage(w http.ResponseWriter, r *http.Request) {
	c := customer(r.Context())
	cart, err := h.shop.Cart(r.Context(), *c)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	if len(cart.Lines) == 0 {
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
		return
	}
	f := url.Values{}
	f.Set("idempotency_key", newKey())
	f.Set("contact.name", c.Name)
	f.Set("contact.email", c.Email)
	f.Set("contact.phone", c.Phone)
	f.Set("contact.company", c.Company)
	h.render(w, r, http.StatusOK, "checkout", view{Title: "Checkout", Form: f, Data: checkoutView{Cart: cart}})
}

func (h *Handler) placeOrderPost(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c := *customer(ctx)
	f := r.PostForm
	key := f.Get("idempotency_key")
	// A second submit of the same form (double click, browser retry) finds
	// the order the first one placed, even though the cart is now empty.
	if prev, ok, err := h.shop.OrderByKey(ctx, c, key); err != nil {
		h.pageError(w, r, err)
		return
	} else if ok {
		http.Redirect(w, r, "/orders/"+prev.Number, http.StatusSeeOther)
		return
	}
	lines, err := h.shop.CartRequest(ctx, c)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	req := order.Request{Lines: lines,
		Delivery: contracts.Address{Line1: f.Get("delivery.line1"), Line2: f.Get("delivery.line2"), City: f.Get("delivery.city"),
			PostalCode: f.Get("delivery.postal_code"), Country: f.Get("delivery.country")},
		Contact: order.Contact{Name: f.Get("contact.name"), Email: f.Get("contact.email"), Phone: f.Get("contact.phone"), Company: f.Get("contact.company")},
	}
	req.Normalize()
	err = req.Validate()
	var o app.Order
	if err == nil {
		o, _, err = h.shop.PlaceOrder(ctx, c, key, req, app.PlaceOptions{ClearCart: true})
	}
	if err != nil {
		cart, cerr := h.shop.Cart(ctx, c)
		if cerr != nil {
			h.pageError(w, r, cerr)
			return
		}
		if !app.ValidKey(key) {
			f.Set("idempotency_key", newKey())
		}
		v := view{Title: "Checkout", Form: f, Data: checkoutView{Cart: cart}}
		v.Message, v.Errors = formErrors(err)
		h.render(w, r, status(err), "checkout", v)
		return
	}
	http.Redirect(w, r, "/orders/"+o.Number+"?placed=1", http.StatusSeeOther)
}

type ordersView struct {
	Page     app.Page
	Status   string
	Statuses []string
	Cursor   string
}

func (h *Handler) ordersPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	st, cur := q.Get("status"), q.Get("cursor")
	page, err := h.shop.ListOrders(r.Context(), *customer(r.Context()), st, cur, 20)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "orders", view{Title: "My orders",
		Data: ordersView{Page: page, Status: st, Statuses: contracts.Statuses(), Cursor: cur}})
}

type orderView struct {
	Order       app.Order
	Cancellable bool
	Placed      bool
}

func (h *Handler) orderPage(w http.ResponseWriter, r *http.Request) {
	o, err := h.shop.Order(r.Context(), *customer(r.Context()), r.PathValue("ref"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	v := view{Title: "Order " + o.Number, Data: orderView{Order: o, Placed: r.URL.Query().Get("placed") == "1",
		Cancellable: o.CancelRequestedAt.IsZero() && order.Cancellable(o.Status)}}
	h.render(w, r, http.StatusOK, "order", v)
}

func (h *Handler) cancelPost(w http.ResponseWriter, r *http.Request) {
	c := *customer(r.Context())
	o, err := h.shop.RequestCancel(r.Context(), c, r.PathValue("ref"), r.PostFormValue("reason"))
	if err != nil {
		cur, gerr := h.shop.Order(r.Context(), c, r.PathValue("ref"))
		if gerr != nil {
			h.pageError(w, r, gerr)
			return
		}
		v := view{Title: "Order " + cur.Number, Form: r.PostForm, Data: orderView{Order: cur,
			Cancellable: cur.CancelRequestedAt.IsZero() && order.Cancellable(cur.Status)}}
		v.Message, v.Errors = formErrors(err)
		h.render(w, r, status(err), "order", v)
		return
	}
	http.Redirect(w, r, "/orders/"+o.Number, http.StatusSeeOther)
}

func (h *Handler) signUpPage(w http.ResponseWriter, r *http.Request) {
	f := url.Values{}
	if n := r.URL.Query().Get("next"); n != "" {
		f.Set("next", safeNext(n))
	}
	h.render(w, r, http.StatusOK, "signup", view{Title: "Create an account", Form: f})
}

func (h *Handler) signUpPost(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	s, err := h.shop.SignUp(r.Context(), app.SignUp{Email: f.Get("email"), Name: f.Get("name"), Company: f.Get("company"),
		Phone: f.Get("phone"), Password: f.Get("password"), ClientIP: h.clientIP(r)})
	if err != nil {
		f.Del("password")
		v := view{Title: "Create an account", Form: f}
		v.Message, v.Errors = formErrors(err)
		h.render(w, r, status(err), "signup", v)
		return
	}
	if s.Token == "" { // the same answer whether the address had an account or not
		h.render(w, r, http.StatusOK, "notice", view{Title: "Check your e-mail",
			Message: "We have sent a message to " + f.Get("email") + ". Open the link in it to finish creating your account. " +
				"If you already have an account, the message tells you how to sign in."})
		return
	}
	h.setSession(w, s)
	next := "/catalog"
	if f.Get("next") != "" {
		next = safeNext(f.Get("next"))
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	f := url.Values{}
	f.Set("next", safeNext(r.URL.Query().Get("next")))
	v := view{Title: "Sign in", Form: f}
	if strings.Contains(f.Get("next"), "signin=1") {
		v.Message = "Sign in or create an account to put the part in your cart; you will come back to it as you configured it."
	}
	h.render(w, r, http.StatusOK, "login", v)
}

func (h *Handler) loginPost(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	s, err := h.shop.SignIn(r.Context(), f.Get("email"), f.Get("password"), h.clientIP(r))
	if err != nil {
		f.Del("password")
		v := view{Title: "Sign in", Form: f}
		v.Message, v.Errors = formErrors(err)
		if e, ok := app.AsError(err); ok && e.Kind == app.KindRateLimited {
			w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds())+1))
		}
		h.render(w, r, status(err), "login", v)
		return
	}
	h.setSession(w, s)
	http.Redirect(w, r, safeNext(f.Get("next")), http.StatusSeeOther)
}

func (h *Handler) logoutPost(w http.ResponseWriter, r *http.Request) {
	if t := sessionToken(r); t != "" {
		if err := h.shop.SignOut(r.Context(), t); err != nil {
			h.pageError(w, r, err)
			return
		}
	}
	h.clearSession(w)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// tokenPage shows the form behind an e-mailed link: the token goes on in
// the form's body, so that a mail scanner fetching the link spends nothing.
func (h *Handler) tokenPage(name, title string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f := url.Values{"token": {r.URL.Query().Get("token")}}
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.render(w, r, http.StatusOK, name, view{Title: title, Form: f})
	}
}

func (h *Handler) confirmPost(w http.ResponseWriter, r *http.Request) {
	s, err := h.shop.ConfirmEmail(r.Context(), r.PostForm.Get("token"))
	if err != nil {
		v := view{Title: "Confirm your e-mail address", Form: url.Values{}}
		v.Message, _ = formErrors(err)
		h.render(w, r, status(err), "confirm", v)
		return
	}
	h.setSession(w, s)
	http.Redirect(w, r, "/catalog", http.StatusSeeOther)
}

func (h *Handler) forgotPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "forgot", view{Title: "Forgot your password?"})
}

func (h *Handler) forgotPost(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	if err := h.shop.RequestPasswordReset(r.Context(), f.Get("email"), h.clientIP(r)); err != nil {
		v := view{Title: "Forgot your password?", Form: f}
		v.Message, v.Errors = formErrors(err)
		if e, ok := app.AsError(err); ok && e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		}
		h.render(w, r, status(err), "forgot", v)
		return
	}
	h.render(w, r, http.StatusOK, "notice", view{Title: "Check your e-mail",
		Message: "If an account exists for " + f.Get("email") + ", we have sent it a link to choose a new password."})
}

func (h *Handler) resetPost(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	s, err := h.shop.ResetPassword(r.Context(), f.Get("token"), f.Get("password"), h.clientIP(r))
	if err != nil {
		v := view{Title: "Choose a new password", Form: url.Values{"token": {f.Get("token")}}}
		v.Message, v.Errors = formErrors(err)
		h.render(w, r, status(err), "reset", v)
		return
	}
	h.setSession(w, s)
	http.Redirect(w, r, "/account?changed=password", http.StatusSeeOther)
}

func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request) {
	v := view{Title: "Your account"}
	if r.URL.Query().Get("changed") == "password" { // a fixed message, never text from the URL
		v.Message = "Your password was changed. Your other sessions were signed out."
	}
	h.render(w, r, http.StatusOK, "account", v)
}

func (h *Handler) passwordPost(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	s, err := h.shop.ChangePassword(r.Context(), *customer(r.Context()), f.Get("current_password"), f.Get("password"), h.clientIP(r))
	if err != nil {
		v := view{Title: "Your account", Form: url.Values{}}
		v.Message, v.Errors = formErrors(err)
		if e, ok := app.AsError(err); ok && e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		}
		h.render(w, r, status(err), "account", v)
		return
	}
	h.setSession(w, s)
	http.Redirect(w, r, "/account?changed=password", http.StatusSeeOther)
}
