package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/webasset"
	"github.com/fabrika/fabrika/services/crm/internal/app"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/order"
	"github.com/fabrika/fabrika/services/crm/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

// actionKind maps the URL segment of an action to its kind.
func actionKind(segment string) (string, bool) {
	switch segment {
	case "confirm":
		return order.ActConfirm, true
	case "hold":
		return order.ActHold, true
	case "resume":
		return order.ActResume, true
	case "cancel":
		return order.ActCancel, true
	case "assign":
		return order.ActAssign, true
	case "notes":
		return order.ActNote, true
	case "compensations":
		return order.ActCompensation, true
	}
	return "", false
}

type pages struct {
	orders, order, customer, customers, stuck, problem *template.Template
	assets                                             *webasset.Set
}

func parsePages(notFound http.Handler) *pages {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	assets, err := webasset.New(sub, "/crm/static/", notFound)
	if err != nil {
		panic(err)
	}
	funcs := template.FuncMap{
		"asset": assets.URL,
		"money": func(amount int64, currency string) string {
			return fmt.Sprintf("%d.%02d %s", amount/100, amount%100, currency)
		},
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04")
		},
		"label": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
		// allows tells whether the order's status lets a manager take the
		// action, so that the card shows only the buttons that can work.
		"allows":   func(o store.Order, action string) bool { _, err := o.State().Apply(action); return err == nil },
		"statuses": contracts.Statuses,
	}
	t, err := webasset.Pages(templateFS, funcs)
	if err != nil {
		panic(err)
	}
	return &pages{orders: t["orders"], order: t["order"], customer: t["customer"],
		customers: t["customers"], stuck: t["stuck"], problem: t["problem"], assets: assets}
}

// view is what the layout renders: the page's title, who is signed in (for
// the header) and the page's own data.
type view struct {
	Title string
	Actor *identity.Identity
	// CSRF is the session's token for the forms (template "csrf").
	CSRF string
	Page any
}

// render writes a page with a status; a failure to render is a 500.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, title string, data any) {
	var buf bytes.Buffer
	v := view{Title: title, CSRF: identity.CSRFToken(r), Page: data}
	if id, ok := identity.FromContext(r.Context()); ok {
		v.Actor = &id
	}
	if err := t.Execute(&buf, v); err != nil {
		httpx.WriteError(w, r, h.log, fmt.Errorf("render page: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type problemData struct{ Title, Detail string }

// pageError shows err as the CRM's error page (a browser never sees
// problem+json): the problem's status and detail, or a logged 500.
func (h *Handler) pageError(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	if p == nil {
		h.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		p = httpx.NewProblem(http.StatusInternalServerError, "Something went wrong; it has been logged. Try again in a moment.")
	}
	for k, v := range p.Headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Cache-Control", "no-store")
	h.render(w, r, h.pages.problem, p.Status, p.Title, problemData{Title: p.Title, Detail: p.Detail})
}

// notFound is the CRM's 404 page for any path it does not serve.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.pageError(w, r, httpx.NewProblem(http.StatusNotFound, "There is no page at "+r.URL.Path+"."))
}

type statusCount struct {
	Status string
	N      int64
	Link   string
}

type ordersData struct {
	Query   listquery.Query
	Page    app.Page
	Counts  []statusCount
	All     int64
	Next    string
	First   string
	Error   string
	Field   string
	Message string
	// Managers are the staff orders can be assigned to, for the manager
	// filter (with "anyone" and "unassigned").
	Managers []store.StaffMember
}

// OtherManager tells whether the manager filter names a login that is not
// among Managers (an account since disabled, or a link typed by hand), so
// that the select still shows it.
func (d ordersData) OtherManager() bool {
	if d.Query.Manager == "" || d.Query.Manager == listquery.Unassigned {
		return false
	}
	return !slices.ContainsFunc(d.Managers, func(m store.StaffMember) bool { return m.Login == d.Query.Manager })
}

func (h *Handler) ordersPage(w http.ResponseWriter, r *http.Request) {
	managers, err := h.app.Managers(r.Context())
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	q, err := listquery.Parse(r.URL.Query())
	data := ordersData{Query: q, Managers: managers}
	if err != nil {
		p := problemFor(err)
		if p == nil {
			h.pageError(w, r, err)
			return
		}
		data.Error = p.Detail
		h.render(w, r, h.pages.orders, p.Status, "Orders", data)
		return
	}
	page, err := h.app.ListOrders(r.Context(), q)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	// The page shows the managers too: a new one changes it.
	logins := fnv.New64a()
	for _, m := range managers {
		logins.Write([]byte(m.Login + " " + m.Role + "\n"))
	}
	etag := strings.TrimSuffix(page.ETag, `"`) + fmt.Sprintf(`-h%x"`, logins.Sum64())
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, no-cache")
	if matches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	data.Page = page
	data.All = page.Counts["all"]
	for _, s := range contracts.Statuses() {
		v := q.Values()
		v.Set("status", s)
		v.Del("cursor")
		data.Counts = append(data.Counts, statusCount{Status: s, N: page.Counts["status:"+s], Link: "/crm/orders?" + v.Encode()})
	}
	data.First = "/crm/orders?" + q.Values().Encode()
	if page.Next != "" {
		v := q.Values()
		v.Set("cursor", page.Next)
		data.Next = "/crm/orders?" + v.Encode()
	}
	h.render(w, r, h.pages.orders, http.StatusOK, "Orders", data)
}

type orderData struct {
	Card app.Card
	// Working are the steps started and not finished (where the order is
	// now); LastDone is the step finished last.
	Working  []store.Step
	LastDone *store.Step

	Done    string
	Error   string
	Errors  map[string]string
	Form    url.Values
	Actions []string
	// CSRF is the session's token for the forms (template "csrf").
	CSRF string

	// Managers are those the order can be assigned to; names are what the
	// price lists call their codes.
	Managers []store.StaffMember
	names    map[string]map[string]string
}

// Name is what the price list calls a code of a kind (store.NameProduct,
// ...), or the code made readable when no price list named it.
func (d orderData) Name(kind, code string) string {
	if n := d.names[kind][code]; n != "" {
		return n
	}
	return strings.ReplaceAll(code, "_", " ")
}

// Options describes a line's options as people write them: material and
// finish by name, the dimensions as "200 × 100 × 2 mm".
func (d orderData) Options(opts map[string]string) string {
	var parts []string
	if v := opts[contracts.OptMaterial]; v != "" {
		parts = append(parts, d.Name(store.NameMaterial, v))
	}
	var dims []string
	for _, k := range []string{contracts.OptWidth, contracts.OptHeight, contracts.OptThickness} {
		if v := opts[k]; v != "" {
			dims = append(dims, v)
		}
	}
	if len(dims) > 0 {
		parts = append(parts, strings.Join(dims, " × ")+" mm")
	}
	if v := opts[contracts.OptFinish]; v != "" {
		parts = append(parts, d.Name(store.NameFinish, v))
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		if !slices.Contains(contracts.OptionCodes(), k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, strings.ReplaceAll(k, "_", " ")+": "+opts[k])
	}
	return strings.Join(parts, " · ")
}

func (h *Handler) orderPage(w http.ResponseWriter, r *http.Request) {
	// done names the action that just succeeded; anything else in the URL is
	// not shown (a link must not put its own words on the page).
	done := r.URL.Query().Get("done")
	if _, ok := actionKind(done); !ok {
		done = ""
	}
	h.showOrder(w, r, http.StatusOK, orderData{Done: done})
}

func (h *Handler) showOrder(w http.ResponseWriter, r *http.Request, status int, data orderData) {
	card, err := h.app.OrderCard(r.Context(), r.PathValue("id"))
	if err != nil {
		if errors.Is(err, order.ErrNotFound) {
			err = httpx.NewProblem(http.StatusNotFound, "There is no order "+r.PathValue("id")+".")
		}
		h.pageError(w, r, err)
		return
	}
	data.Card = card
	if data.Managers, err = h.app.Managers(r.Context()); err != nil {
		h.pageError(w, r, err)
		return
	}
	if data.names, err = h.app.Names(r.Context()); err != nil {
		h.pageError(w, r, err)
		return
	}
	for i, st := range card.Floor {
		switch {
		case st.FinishedAt.IsZero() && !st.StartedAt.IsZero():
			data.Working = append(data.Working, st)
		case !st.FinishedAt.IsZero() && (data.LastDone == nil || st.FinishedAt.After(data.LastDone.FinishedAt)):
			data.LastDone = &card.Floor[i]
		}
	}
	if data.Form == nil {
		data.Form = url.Values{}
	}
	data.CSRF = identity.CSRFToken(r)
	h.render(w, r, h.pages.order, status, "Order "+card.Order.Number, data)
}

// orderAction takes a form post; success redirects to the card, failure
// re-renders it with the message next to the field.
func (h *Handler) orderAction(w http.ResponseWriter, r *http.Request) {
	kind, ok := actionKind(r.PathValue("action"))
	if !ok {
		h.notFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.showOrder(w, r, http.StatusBadRequest, orderData{Error: "The form could not be read.", Form: url.Values{}})
		return
	}
	act := app.Action{Kind: kind, By: actor(r), Reason: r.PostFormValue("reason"), Manager: r.PostFormValue("manager"),
		Note: r.PostFormValue("note"), CompKind: r.PostFormValue("kind")}
	fieldErrs := map[string]string{}
	if v, ok := parseVersion(r.PostFormValue("version")); ok {
		act.Version = v
	} else {
		fieldErrs["version"] = "the page did not send the version of the order; reload it"
	}
	if kind == order.ActCompensation {
		n, err := order.ParseAmount("amount", r.PostFormValue("amount"))
		if err != nil {
			fieldErrs["amount"] = err.(*order.ValidationError).Fields["amount"]
		}
		act.Amount = n
	}
	var err error
	if len(fieldErrs) > 0 {
		err = &order.ValidationError{Fields: fieldErrs}
	} else {
		_, err = h.app.Act(r.Context(), r.PathValue("id"), act)
	}
	if err != nil {
		p := problemFor(err)
		if p == nil {
			h.pageError(w, r, err)
			return
		}
		data := orderData{Error: p.Detail, Errors: p.Errors, Form: r.PostForm}
		if p.Status == http.StatusUnprocessableEntity {
			keys := make([]string, 0, len(p.Errors))
			for k := range p.Errors {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			data.Error = "Please correct: " + strings.Join(keys, ", ") + "."
		}
		h.showOrder(w, r, p.Status, data)
		return
	}
	http.Redirect(w, r, "/crm/orders/"+url.PathEscape(r.PathValue("id"))+"?done="+url.QueryEscape(r.PathValue("action")), http.StatusSeeOther)
}

// customerData is the customer card with its orders' numbers by id, so that
// notes and compensations name the order as people know it.
type customerData struct {
	app.CustomerCard
	Numbers map[string]string
}

func (h *Handler) customerPage(w http.ResponseWriter, r *http.Request) {
	card, err := h.app.CustomerCard(r.Context(), r.PathValue("id"))
	if err != nil {
		if errors.Is(err, order.ErrNotFound) {
			err = httpx.NewProblem(http.StatusNotFound, "There is no customer "+r.PathValue("id")+".")
		}
		h.pageError(w, r, err)
		return
	}
	data := customerData{CustomerCard: card, Numbers: map[string]string{}}
	for _, o := range card.Orders {
		data.Numbers[o.OrderID] = o.Number
	}
	h.render(w, r, h.pages.customer, http.StatusOK, card.Customer.Name, data)
}

type stuckData struct {
	Orders     []app.StuckOrder
	Parked     int64
	Thresholds []string
}

func (h *Handler) stuckPage(w http.ResponseWriter, r *http.Request) {
	rows, parked, err := h.app.Stuck(r.Context(), 500)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	data := stuckData{Orders: rows, Parked: parked}
	for _, s := range contracts.Statuses() {
		if d, ok := h.app.Thresholds()[s]; ok {
			data.Thresholds = append(data.Thresholds, strings.ReplaceAll(s, "_", " ")+" "+app.Duration(d))
		}
	}
	h.render(w, r, h.pages.stuck, http.StatusOK, "Stuck orders", data)
}

type customersData struct {
	Search    string
	Customers []store.Customer
}

func (h *Handler) customersPage(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if utf8.RuneCountInString(q) > listquery.MaxSearch {
		h.pageError(w, r, httpx.NewProblem(http.StatusBadRequest, fmt.Sprintf("The search is longer than %d characters.", listquery.MaxSearch)))
		return
	}
	cs, err := h.app.Customers(r.Context(), q, 200)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	h.render(w, r, h.pages.customers, http.StatusOK, "Customers", customersData{Search: q, Customers: cs})
}
