package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/crm/internal/app"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/order"
)

//go:embed templates/*.html
var templateFS embed.FS

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

type pages struct{ orders, order, customer, stuck *template.Template }

func parsePages() *pages {
	funcs := template.FuncMap{
		"money": func(amount int64, currency string) string {
			return fmt.Sprintf("%d.%02d %s", amount/100, amount%100, currency)
		},
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04")
		},
		"label":    func(s string) string { return strings.ReplaceAll(s, "_", " ") },
		"statuses": contracts.Statuses,
	}
	parse := func(name string) *template.Template {
		return template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name))
	}
	return &pages{orders: parse("orders.html"), order: parse("order.html"), customer: parse("customer.html"), stuck: parse("stuck.html")}
}

// render writes a page with a status; a failure to render is a 500.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		httpx.WriteError(w, r, h.log, fmt.Errorf("render page: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(identity.AddCSRFFields(buf.Bytes(), r.Header.Get(identity.HeaderCSRF)))
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
}

func (h *Handler) ordersPage(w http.ResponseWriter, r *http.Request) {
	q, err := listquery.Parse(r.URL.Query())
	data := ordersData{Query: q}
	if err != nil {
		p := problemFor(err)
		if p == nil {
			h.writeError(w, r, err)
			return
		}
		data.Error = p.Detail
		h.render(w, r, h.pages.orders, p.Status, data)
		return
	}
	page, err := h.app.ListOrders(r.Context(), q)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	etag := strings.TrimSuffix(page.ETag, `"`) + `-h"`
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
	h.render(w, r, h.pages.orders, http.StatusOK, data)
}

type orderData struct {
	Card    app.Card
	Done    string
	Error   string
	Errors  map[string]string
	Form    url.Values
	Actions []string
}

func (h *Handler) orderPage(w http.ResponseWriter, r *http.Request) {
	h.showOrder(w, r, http.StatusOK, orderData{Done: r.URL.Query().Get("done")})
}

func (h *Handler) showOrder(w http.ResponseWriter, r *http.Request, status int, data orderData) {
	card, err := h.app.OrderCard(r.Context(), r.PathValue("id"))
	if err != nil {
		p := problemFor(err)
		if p != nil && p.Status == http.StatusNotFound {
			h.render(w, r, h.pages.order, http.StatusNotFound, orderData{Error: "There is no order " + r.PathValue("id") + "."})
			return
		}
		h.writeError(w, r, err)
		return
	}
	data.Card = card
	if data.Form == nil {
		data.Form = url.Values{}
	}
	h.render(w, r, h.pages.order, status, data)
}

// orderAction takes a form post; success redirects to the card, failure
// re-renders it with the message next to the field.
func (h *Handler) orderAction(w http.ResponseWriter, r *http.Request) {
	kind, ok := actionKind(r.PathValue("action"))
	if !ok {
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusNotFound, "unknown action "+r.PathValue("action")))
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
			h.writeError(w, r, err)
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

func (h *Handler) customerPage(w http.ResponseWriter, r *http.Request) {
	card, err := h.app.CustomerCard(r.Context(), r.PathValue("id"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.render(w, r, h.pages.customer, http.StatusOK, card)
}

type stuckData struct {
	Orders     []app.StuckOrder
	Parked     int64
	Thresholds []string
}

func (h *Handler) stuckPage(w http.ResponseWriter, r *http.Request) {
	rows, parked, err := h.app.Stuck(r.Context(), 500)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	data := stuckData{Orders: rows, Parked: parked}
	for _, s := range contracts.Statuses() {
		if d, ok := h.app.Thresholds()[s]; ok {
			data.Thresholds = append(data.Thresholds, strings.ReplaceAll(s, "_", " ")+" "+d.String())
		}
	}
	h.render(w, r, h.pages.stuck, http.StatusOK, data)
}
