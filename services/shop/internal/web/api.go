package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/text"
	"github.com/fabrika/fabrika/services/shop/internal/app"
	"github.com/fabrika/fabrika/services/shop/internal/order"
)

func (h *Handler) apiRoutes() {
	m := h.mux
	m.HandleFunc("GET "+APIPrefix+"/catalog", h.apiCatalog)
	m.HandleFunc("GET "+APIPrefix+"/products/{code}", h.apiProduct)
	m.HandleFunc("POST "+APIPrefix+"/quotes", h.apiQuote)
	m.HandleFunc("POST "+APIPrefix+"/accounts", h.apiSignUp)
	m.HandleFunc("POST "+APIPrefix+"/sessions", h.apiSignIn)
	m.HandleFunc("DELETE "+APIPrefix+"/sessions/current", h.apiSignOut)
	m.HandleFunc("GET "+APIPrefix+"/me", h.authed(h.apiMe))
	m.HandleFunc("POST "+APIPrefix+"/me/password", h.authed(h.apiChangePassword))
	m.HandleFunc("POST "+APIPrefix+"/accounts/confirm", h.apiConfirm)
	m.HandleFunc("POST "+APIPrefix+"/password-resets", h.apiForgot)
	m.HandleFunc("POST "+APIPrefix+"/password-resets/complete", h.apiReset)
	m.HandleFunc("POST "+APIPrefix+"/orders", h.authed(h.apiPlaceOrder))
	m.HandleFunc("GET "+APIPrefix+"/orders", h.authed(h.apiListOrders))
	m.HandleFunc("GET "+APIPrefix+"/orders/{ref}", h.authed(h.apiOrder))
	m.HandleFunc("POST "+APIPrefix+"/orders/{ref}/cancel", h.authed(h.apiCancel))
	m.HandleFunc(APIPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusNotFound, "no such API route"))
	})
}

func (h *Handler) apiError(w http.ResponseWriter, r *http.Request, err error) {
	if p := problem(err); p != nil {
		httpx.WriteProblem(w, r, p)
		return
	}
	httpx.WriteError(w, r, h.log, err)
}

func (h *Handler) authed(fn func(http.ResponseWriter, *http.Request, app.Customer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := customer(r.Context())
		if c == nil {
			p := httpx.NewProblem(http.StatusUnauthorized, "sign in first: POST "+APIPrefix+"/sessions, then send the token as a Bearer token or the cookie")
			p.Headers = map[string]string{"WWW-Authenticate": `Bearer realm="shop"`}
			httpx.WriteProblem(w, r, p)
			return
		}
		fn(w, r, *c)
	}
}

// notModified answers 304 when the client has the version it asks about.
func notModified(w http.ResponseWriter, r *http.Request, etag, cacheControl string) bool {
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", cacheControl)
	for _, t := range strings.Split(r.Header.Get("If-None-Match"), ",") {
		if t = strings.TrimSpace(t); t == etag || t == "*" {
			w.WriteHeader(http.StatusNotModified)
			return true
		}
	}
	return false
}

// The catalogue is the same for everyone until the next price list: shared
// caches may keep it a minute and revalidate by version.
const publicCache = "public, max-age=60"

func catalogETag(version int64) string { return fmt.Sprintf(`"pl-%d"`, version) }

func (h *Handler) apiCatalog(w http.ResponseWriter, r *http.Request) {
	cat, err := h.shop.Catalog(r.Context())
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	if notModified(w, r, catalogETag(cat.Version), publicCache) {
		return
	}
	out := catalogJSON{Version: cat.Version, Currency: cat.Currency, PublishedAt: cat.PublishedAt,
		StandardLeadDays: cat.StandardLeadDays, RushLeadDays: cat.RushLeadDays, MaxQuantity: cat.MaxQuantity}
	for _, p := range cat.Products {
		out.Products = append(out.Products, productOf(p))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *Handler) apiProduct(w http.ResponseWriter, r *http.Request) {
	cat, p, err := h.shop.Product(r.Context(), r.PathValue("code"))
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	if notModified(w, r, catalogETag(cat.Version), publicCache) {
		return
	}
	httpx.WriteJSON(w, http.StatusOK, productOf(p))
}

type quoteRequest struct {
	Product  string            `json:"product"`
	Options  map[string]string `json:"options"`
	Quantity int               `json:"quantity"`
	Lead     string            `json:"lead"`
}

func (h *Handler) apiQuote(w http.ResponseWriter, r *http.Request) {
	var in quoteRequest
	if err := httpx.DecodeJSON(w, r, h.cfg.MaxBody, &in); err != nil {
		h.apiError(w, r, err)
		return
	}
	l := contracts.Config{Product: in.Product, Options: in.Options, Quantity: in.Quantity, Lead: in.Lead}
	req := order.Request{Lines: []contracts.Config{l}}
	req.Normalize()
	fe := text.FieldErrors{}
	order.ValidateLine(fe, "", req.Lines[0])
	if len(fe) > 0 {
		h.apiError(w, r, &app.Error{Kind: app.KindInvalid, Message: "the configuration cannot be quoted", Fields: fe})
		return
	}
	q, err := h.shop.Quote(r.Context(), req.Lines[0])
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, q)
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name,omitempty"`
	Company  string `json:"company,omitempty"`
	Phone    string `json:"phone,omitempty"`
}

type sessionJSON struct {
	Token     string       `json:"token"`
	ExpiresAt time.Time    `json:"expires_at"`
	Customer  app.Customer `json:"customer"`
}

func (h *Handler) apiSignUp(w http.ResponseWriter, r *http.Request) {
	var in credentials
	if err := httpx.DecodeJSON(w, r, h.cfg.MaxBody, &in); err != nil {
		h.apiError(w, r, err)
		return
	}
	s, err := h.shop.SignUp(r.Context(), app.SignUp{Email: in.Email, Name: in.Name, Company: in.Company, Phone: in.Phone, Password: in.Password, ClientIP: h.clientIP(r)})
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	if s.Token == "" { // the same answer whether the address had an account or not
		httpx.WriteJSON(w, http.StatusAccepted, checkMail)
		return
	}
	h.setSession(w, s)
	httpx.WriteJSON(w, http.StatusCreated, sessionJSON{Token: s.Token, ExpiresAt: s.Expires, Customer: s.Customer})
}

// checkMail is the answer of a sign-up or a reset request: the next step is
// in an e-mail.
var checkMail = map[string]string{"status": "check_email",
	"message": "we have sent an e-mail to this address; open the link in it to go on"}

type tokenRequest struct {
	Token           string `json:"token"`
	Email           string `json:"email"`
	Password        string `json:"password"`
	CurrentPassword string `json:"current_password"`
}

func (h *Handler) writeSession(w http.ResponseWriter, s app.Session) {
	h.setSession(w, s)
	httpx.WriteJSON(w, http.StatusCreated, sessionJSON{Token: s.Token, ExpiresAt: s.Expires, Customer: s.Customer})
}

// apiConfirm: POST /accounts/confirm {"token"} signs in.
func (h *Handler) apiConfirm(w http.ResponseWriter, r *http.Request) {
	var in tokenRequest
	if err := httpx.DecodeJSON(w, r, h.cfg.MaxBody, &in); err != nil {
		h.apiError(w, r, err)
		return
	}
	s, err := h.shop.ConfirmEmail(r.Context(), in.Token)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	h.writeSession(w, s)
}

// apiForgot: POST /password-resets {"email"} e-mails a link; 202 always.
func (h *Handler) apiForgot(w http.ResponseWriter, r *http.Request) {
	var in tokenRequest
	if err := httpx.DecodeJSON(w, r, h.cfg.MaxBody, &in); err != nil {
		h.apiError(w, r, err)
		return
	}
	if err := h.shop.RequestPasswordReset(r.Context(), in.Email, h.clientIP(r)); err != nil {
		h.apiError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, checkMail)
}

// apiReset: POST /password-resets/complete {"token","password"} sets the
// password and signs in.
func (h *Handler) apiReset(w http.ResponseWriter, r *http.Request) {
	var in tokenRequest
	if err := httpx.DecodeJSON(w, r, h.cfg.MaxBody, &in); err != nil {
		h.apiError(w, r, err)
		return
	}
	s, err := h.shop.ResetPassword(r.Context(), in.Token, in.Password, h.clientIP(r))
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	h.writeSession(w, s)
}

// apiChangePassword: POST /me/password {"current_password","password"}
// answers a new session; the others end.
func (h *Handler) apiChangePassword(w http.ResponseWriter, r *http.Request, c app.Customer) {
	var in tokenRequest
	if err := httpx.DecodeJSON(w, r, h.cfg.MaxBody, &in); err != nil {
		h.apiError(w, r, err)
		return
	}
	s, err := h.shop.ChangePassword(r.Context(), c, in.CurrentPassword, in.Password, h.clientIP(r))
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	h.writeSession(w, s)
}

func (h *Handler) apiSignIn(w http.ResponseWriter, r *http.Request) {
	var in credentials
	if err := httpx.DecodeJSON(w, r, h.cfg.MaxBody, &in); err != nil {
		h.apiError(w, r, err)
		return
	}
	s, err := h.shop.SignIn(r.Context(), in.Email, in.Password, h.clientIP(r))
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	h.setSession(w, s)
	httpx.WriteJSON(w, http.StatusCreated, sessionJSON{Token: s.Token, ExpiresAt: s.Expires, Customer: s.Customer})
}

func (h *Handler) apiSignOut(w http.ResponseWriter, r *http.Request) {
	if t := sessionToken(r); t != "" {
		if err := h.shop.SignOut(r.Context(), t); err != nil {
			h.apiError(w, r, err)
			return
		}
	}
	h.clearSession(w)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) apiMe(w http.ResponseWriter, r *http.Request, c app.Customer) {
	w.Header().Set("Cache-Control", "private, no-store")
	httpx.WriteJSON(w, http.StatusOK, c)
}

// HeaderIdempotencyKey carries the idempotency key of POST /orders.
const HeaderIdempotencyKey = "Idempotency-Key"

// readOrderBody checks the content type and reads the body within the
// limit; failures are problems (415, 413).
func (h *Handler) readOrderBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, httpx.NewProblem(http.StatusUnsupportedMediaType, "the body must be application/json")
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, httpx.NewProblem(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", h.cfg.MaxBody))
	}
	if err != nil {
		return nil, httpx.NewProblem(http.StatusBadRequest, "the body could not be read")
	}
	return b, nil
}

func (h *Handler) apiPlaceOrder(w http.ResponseWriter, r *http.Request, c app.Customer) {
	body, err := h.readOrderBody(w, r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	key := r.Header.Get(HeaderIdempotencyKey)
	if !app.ValidKey(key) {
		p := httpx.NewProblem(http.StatusBadRequest, "the "+HeaderIdempotencyKey+" header is required: 1 to 128 printable characters, new for every new order")
		p.Errors = map[string]string{HeaderIdempotencyKey: "missing or malformed"}
		httpx.WriteProblem(w, r, p)
		return
	}
	req, err := order.Parse(body)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	o, created, err := h.shop.PlaceOrder(r.Context(), c, key, req, app.PlaceOptions{})
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	w.Header().Set("Location", APIPrefix+"/orders/"+o.ID)
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	} else {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	httpx.WriteJSON(w, code, orderOf(o))
}

func (h *Handler) apiListOrders(w http.ResponseWriter, r *http.Request, c app.Customer) {
	q := r.URL.Query()
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > app.MaxPageSize {
			msg := fmt.Sprintf("limit must be a number from 1 to %d", app.MaxPageSize)
			h.apiError(w, r, &app.Error{Kind: app.KindBadRequest, Message: msg, Fields: map[string]string{"limit": msg}})
			return
		}
		limit = n
	}
	page, err := h.shop.RenderedOrders(r.Context(), c, q.Get("status"), q.Get("cursor"), limit, renderOrdersPage)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	// The browser keeps the page and asks again with If-None-Match: a page
	// that has not changed costs a 304 and no body.
	if notModified(w, r, page.ETag, "private, no-cache") {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(page.Body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(page.Body)
}

func (h *Handler) apiOrder(w http.ResponseWriter, r *http.Request, c app.Customer) {
	o, err := h.shop.Order(r.Context(), c, r.PathValue("ref"))
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	httpx.WriteJSON(w, http.StatusOK, orderOf(o))
}

func (h *Handler) apiCancel(w http.ResponseWriter, r *http.Request, c app.Customer) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := httpx.DecodeJSON(w, r, h.cfg.MaxBody, &in); err != nil {
		h.apiError(w, r, err)
		return
	}
	o, err := h.shop.RequestCancel(r.Context(), c, r.PathValue("ref"), in.Reason)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, orderOf(o))
}

// JSON shapes.

type catalogJSON struct {
	Version          int64         `json:"price_list_version"`
	Currency         string        `json:"currency"`
	PublishedAt      time.Time     `json:"published_at"`
	StandardLeadDays int           `json:"standard_lead_days"`
	RushLeadDays     int           `json:"rush_lead_days"`
	MaxQuantity      int           `json:"max_quantity"`
	Products         []productJSON `json:"products"`
}

type choiceJSON struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

type productJSON struct {
	Code        string          `json:"code"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Tagline     string          `json:"tagline,omitempty"`
	Details     string          `json:"details,omitempty"`
	Materials   []choiceJSON    `json:"materials"`
	Finishes    []choiceJSON    `json:"finishes"`
	Width       contracts.Range `json:"width_mm"`
	Height      contracts.Range `json:"height_mm"`
	Thickness   contracts.Range `json:"thickness_mm"`
	Leads       []string        `json:"leads"`
}

func productOf(p app.Product) productJSON {
	out := productJSON{Code: p.Code, Name: p.Name, Description: p.Description, Tagline: p.Tagline, Details: p.Details,
		Width: p.Width, Height: p.Height, Thickness: p.Thickness, Leads: []string{contracts.LeadStandard, contracts.LeadRush},
		Materials: []choiceJSON{}, Finishes: []choiceJSON{}}
	for _, m := range p.Materials {
		out.Materials = append(out.Materials, choiceJSON{m.Code, m.Name})
	}
	for _, f := range p.Finishes {
		out.Finishes = append(out.Finishes, choiceJSON{f.Code, f.Name})
	}
	return out
}

type summaryJSON struct {
	ID              string    `json:"id"`
	Number          string    `json:"number"`
	Status          string    `json:"status"`
	Currency        string    `json:"currency"`
	QuotedTotal     int64     `json:"quoted_total"`
	PricedTotal     int64     `json:"priced_total,omitempty"`
	LineCount       int       `json:"line_count"`
	CancelRequested bool      `json:"cancel_requested"`
	PlacedAt        time.Time `json:"placed_at"`
}

type lineJSON struct {
	LineNo    int               `json:"line_no"`
	Product   string            `json:"product"`
	Options   map[string]string `json:"options"`
	Quantity  int               `json:"quantity"`
	Lead      string            `json:"lead"`
	UnitPrice int64             `json:"unit_price"`
	Total     int64             `json:"total"`
	LeadDays  int               `json:"lead_days"`
}

type eventJSON struct {
	Kind     string    `json:"kind"`
	Label    string    `json:"label"`
	At       time.Time `json:"at"`
	Detail   string    `json:"detail,omitempty"`
	Amount   int64     `json:"amount,omitempty"`
	Currency string    `json:"currency,omitempty"`
}

type orderJSON struct {
	summaryJSON
	PriceListVersion  int64             `json:"price_list_version"`
	ShipDate          string            `json:"ship_date,omitempty"`
	Carrier           string            `json:"carrier,omitempty"`
	TrackingNumber    string            `json:"tracking_number,omitempty"`
	CancelRequestedAt *time.Time        `json:"cancel_requested_at,omitempty"`
	Cancellable       bool              `json:"cancellable"`
	Contact           order.Contact     `json:"contact"`
	Delivery          contracts.Address `json:"delivery"`
	Lines             []lineJSON        `json:"lines"`
	Timeline          []eventJSON       `json:"timeline"`
}

func orderOf(o app.Order) orderJSON {
	out := orderJSON{
		summaryJSON: summaryJSON{ID: o.ID, Number: o.Number, Status: o.Status, Currency: o.Currency, QuotedTotal: o.QuotedTotal,
			PricedTotal: o.PricedTotal, LineCount: o.LineCount, CancelRequested: !o.CancelRequestedAt.IsZero(), PlacedAt: o.PlacedAt},
		PriceListVersion: o.PriceListVersion, ShipDate: o.ShipDate, Carrier: o.Carrier, TrackingNumber: o.TrackingNumber,
		Cancellable: o.CancelRequestedAt.IsZero() && order.Cancellable(o.Status),
		Contact:     o.Contact, Delivery: o.Delivery, Lines: []lineJSON{}, Timeline: []eventJSON{},
	}
	if !o.CancelRequestedAt.IsZero() {
		t := o.CancelRequestedAt
		out.CancelRequestedAt = &t
	}
	for _, l := range o.Lines {
		out.Lines = append(out.Lines, lineJSON{LineNo: l.LineNo, Product: l.Product, Options: l.Options, Quantity: l.Quantity,
			Lead: l.Lead, UnitPrice: l.UnitPrice, Total: l.Total, LeadDays: l.LeadDays})
	}
	if o.Events == nil { // a freshly placed order: its timeline is its placing
		out.Timeline = append(out.Timeline, eventJSON{Kind: order.KindPlaced, Label: order.Label(order.KindPlaced), At: o.PlacedAt})
	}
	for _, e := range o.Events {
		out.Timeline = append(out.Timeline, eventJSON{Kind: e.Kind, Label: order.Label(e.Kind), At: e.At, Detail: e.Detail,
			Amount: e.Amount, Currency: e.Currency})
	}
	return out
}
