package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/webasset"
	"github.com/fabrika/fabrika/services/mes-operator/internal/app"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
	"github.com/fabrika/fabrika/services/mes-operator/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

type pages struct {
	index, queue, order, problem *template.Template
	assets                       *webasset.Set
}

func parsePages(notFound http.Handler) (*pages, error) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	assets, err := webasset.New(sub, "/mes/static/", notFound)
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"asset": assets.URL,
		// eventID gives each rendered form its own client event id: posting
		// the same form again (a retry) reuses it and is applied once.
		"eventID": func() string { return uuid.NewString() },
		"errof":   func(f *formState, action, field string) string { return f.errFor(action, field) },
		"valof":   func(f *formState, action, field string) string { return f.valueFor(action, field) },
		"dict":    func(f *formState, action string) map[string]any { return map[string]any{"F": f, "A": action} },
		"specs":   specs,
	}
	t, err := webasset.Pages(templateFS, funcs, "forms.html")
	if err != nil {
		return nil, err
	}
	return &pages{index: t["index"], queue: t["queue"], order: t["order"], problem: t["problem"], assets: assets}, nil
}

// spec is one thing the job card says about the part.
type spec struct{ Label, Value string }

// specs turns a line's options into what an operator reads: material,
// size in mm, finish, then any other option by its code.
func specs(l store.Labels, opts map[string]string) []spec {
	var out []spec
	rest := maps.Clone(opts)
	take := func(k string) string { v := rest[k]; delete(rest, k); return v }
	if v := take("material"); v != "" {
		out = append(out, spec{"Material", l.Name("material", v)})
	}
	var dims []string
	for _, k := range []string{"width_mm", "height_mm", "thickness_mm"} {
		if v := take(k); v != "" {
			dims = append(dims, v)
		}
	}
	if len(dims) > 0 {
		out = append(out, spec{"Size (mm)", strings.Join(dims, " × ")})
	}
	if v := take("finish"); v != "" {
		out = append(out, spec{"Finish", l.Name("finish", v)})
	}
	for _, k := range slices.Sorted(maps.Keys(rest)) {
		out = append(out, spec{strings.ReplaceAll(k, "_", " "), rest[k]})
	}
	return out
}

// formState is a form that failed: which one, what was wrong and what the
// operator typed, so that the page shows the message next to the field.
type formState struct {
	Target  string // operation or order id
	Action  string
	Field   string
	Message string
	Values  url.Values
}

// fieldsShown are the form fields that can carry a message of their own.
var fieldsShown = []string{"reason", "good_qty", "scrap_qty", "scrap_reason", "carrier", "tracking_number"}

func (f *formState) errFor(action, field string) string {
	if f == nil || f.Action != action || f.Field != field {
		return ""
	}
	return f.Message
}

func (f *formState) valueFor(action, field string) string {
	if f == nil || f.Action != action {
		return ""
	}
	return f.Values.Get(field)
}

// General is the message not tied to a shown field.
func (f *formState) General() string {
	if f == nil || slices.Contains(fieldsShown, f.Field) {
		return ""
	}
	return f.Message
}

type card struct {
	Op   app.OperationView
	Form *formState // the form of this card that failed, if any
}

type pageData struct {
	Title        string
	Actor        identity.Identity
	Status       int
	Error        string
	Workstations []store.Workstation
	Workstation  store.Workstation
	Cards        []card
	Order        app.OrderView
	Form         *formState
	// L names the price list's codes (product, material, finish, operation).
	L store.Labels
	// CSRF is the session's token for the forms (template "csrf").
	CSRF string
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, d pageData) {
	d.Actor = actor(r)
	d.CSRF = identity.CSRFToken(r)
	if l, err := h.uc.Labels(r.Context()); err != nil {
		// The page still works with the codes; the cause is logged.
		h.log.ErrorContext(r.Context(), "read labels", "error", err)
	} else {
		d.L = l
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		h.log.ErrorContext(r.Context(), "render page", "path", r.URL.Path, "error", err)
		http.Error(w, "the page could not be shown; it has been logged", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// notFound is the operators' 404 page for any path they have no page at.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, h.pages.problem, http.StatusNotFound, pageData{Title: "Not found", Status: http.StatusNotFound,
		Error: "There is no page at " + r.URL.Path + "."})
}

// renderError shows an error page with the status of err.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	if p == nil {
		h.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		h.render(w, r, h.pages.problem, http.StatusInternalServerError, pageData{Title: "Error", Status: http.StatusInternalServerError,
			Error: "Something went wrong; it has been logged. Try again."})
		return
	}
	h.render(w, r, h.pages.problem, p.Status, pageData{Title: http.StatusText(p.Status), Status: p.Status, Error: p.Detail})
}

func (h *Handler) pageIndex(w http.ResponseWriter, r *http.Request) {
	ws, err := h.uc.Workstations(r.Context(), actor(r))
	if err != nil {
		h.renderError(w, r, err)
		return
	}
	if len(ws) == 1 {
		http.Redirect(w, r, "/mes/workstations/"+url.PathEscape(ws[0].Code), http.StatusSeeOther)
		return
	}
	h.render(w, r, h.pages.index, http.StatusOK, pageData{Title: "Workstations", Workstations: ws})
}

func (h *Handler) pageQueue(w http.ResponseWriter, r *http.Request) {
	h.showQueue(w, r, r.PathValue("ws"), http.StatusOK, nil)
}

// showQueue renders a workstation's queue, with a failed form if any.
func (h *Handler) showQueue(w http.ResponseWriter, r *http.Request, ws string, status int, failed *formState) {
	q, err := h.uc.WorkstationQueue(r.Context(), actor(r), ws)
	if err != nil {
		h.renderError(w, r, err)
		return
	}
	d := pageData{Title: q.Workstation.Name, Workstation: q.Workstation}
	placed := false
	for _, op := range q.Items {
		c := card{Op: op}
		if failed != nil && failed.Target == op.ID {
			c.Form, placed = failed, true
		}
		d.Cards = append(d.Cards, c)
	}
	if failed != nil && !placed {
		d.Error = failed.Message
	}
	h.render(w, r, h.pages.queue, status, d)
}

func (h *Handler) pageAct(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		h.renderError(w, r, production.Invalid("", "the form could not be read"))
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	act, err := ParseActionForm(action, r.PostForm)
	var res app.Result
	if err == nil {
		res, err = h.uc.Act(r.Context(), actor(r), id, act)
	}
	if err == nil {
		http.Redirect(w, r, "/mes/workstations/"+url.PathEscape(res.Workstation)+"#op-"+id, http.StatusSeeOther)
		return
	}
	p := problemFor(err)
	if p == nil || p.Status == http.StatusNotFound || p.Status == http.StatusForbidden {
		h.renderError(w, r, err)
		return
	}
	op, oerr := h.uc.Operation(r.Context(), actor(r), id)
	if oerr != nil {
		h.renderError(w, r, oerr)
		return
	}
	h.showQueue(w, r, op.Workstation, p.Status, failedForm(id, action, err, p.Detail, r.PostForm))
}

func failedForm(target, action string, err error, detail string, values url.Values) *formState {
	f := &formState{Target: target, Action: action, Message: detail, Values: values}
	if e, ok := production.AsError(err); ok {
		f.Field, f.Message = e.Field, e.Message
	}
	return f
}

func (h *Handler) pageOrder(w http.ResponseWriter, r *http.Request) {
	h.showOrder(w, r, r.PathValue("id"), http.StatusOK, nil)
}

func (h *Handler) showOrder(w http.ResponseWriter, r *http.Request, id string, status int, failed *formState) {
	o, err := h.uc.Order(r.Context(), actor(r), id)
	if err != nil {
		h.renderError(w, r, err)
		return
	}
	h.render(w, r, h.pages.order, status, pageData{Title: "Order " + o.Number, Order: o, Form: failed})
}

func (h *Handler) pageShip(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		h.renderError(w, r, production.Invalid("", "the form could not be read"))
		return
	}
	id := r.PathValue("id")
	s, err := production.NewShipment(r.PostForm.Get("event_id"), r.PostForm.Get("carrier"), r.PostForm.Get("tracking_number"))
	if err == nil {
		_, err = h.uc.Ship(r.Context(), actor(r), id, s)
	}
	if err == nil {
		http.Redirect(w, r, "/mes/orders/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	p := problemFor(err)
	if p == nil || p.Status == http.StatusNotFound || p.Status == http.StatusForbidden {
		h.renderError(w, r, err)
		return
	}
	h.showOrder(w, r, id, p.Status, failedForm(id, "ship", err, p.Detail, r.PostForm))
}
