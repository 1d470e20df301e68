// Package gateway is Fabrika's only public entry: one port that proxies the
// shop at "/", the CRM at "/crm/", the operators' pages at "/mes/" and the
// B2B API at "/api/", and serves the staff sign-in and account pages at
// "/staff/". Staff accounts and sessions live in the gateway's own database;
// for CRM and MES requests the gateway replaces whatever identity header a
// client sent with a freshly signed, short-lived token (platform/identity).
// Internal routes (/metrics, /healthz, /readyz, /admin/*, /pricing/*,
// /internal/*) are never reachable from outside, whatever the spelling of
// the path. See docs/gateway.md.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/secretbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/gateway/internal/route"
	"github.com/fabrika/fabrika/services/gateway/internal/staff"
	"github.com/fabrika/fabrika/services/gateway/internal/store"
	"github.com/fabrika/fabrika/services/gateway/internal/web"
)

// Config configures the gateway. Upstream URLs are base URLs such as
// "http://127.0.0.1:8081"; mes-calc has no field because it has no public
// route.
type Config struct {
	Shop        string // shop, at "/"
	CRM         string // CRM, at "/crm/" (managers, admins)
	MESOperator string // mes-operator, at "/mes/" (operators, admins)
	MESAPI      string // mes-api, at "/api/" with "/api" stripped (API keys)

	// Signer signs the identity tokens sent to the services.
	Signer *identity.Signer

	// PublicAddr is the public listener (e.g. ":8080"), served by
	// Background. The host's own listener (host.Config.HTTPAddr) then is the
	// internal operations port: /metrics, /healthz, /readyz, /admin/*. When
	// empty, the gateway is served only on the host's listener, where the
	// host answers those routes itself: for development only, refused in
	// ProductionMode.
	PublicAddr string
	// TLSCertFile and TLSKeyFile, when both set, make the public listener
	// terminate TLS; responses then carry Strict-Transport-Security.
	TLSCertFile string
	TLSKeyFile  string

	// TrustedProxies are the proxies in front of the gateway (a load
	// balancer, an ingress) whose X-Forwarded-For is believed: when the
	// socket peer is one of them, the client's address is the rightmost
	// forwarded hop that is not (clientaddr.go). That address is what the
	// per-address sign-in limits count, what the audit log records and what
	// goes upstream in X-Forwarded-For. Empty: the peer is the client, and
	// any X-Forwarded-For a client sends is ignored.
	TrustedProxies []netip.Prefix

	// MaxBodyBytes bounds a request body (default 10 MiB); larger is 413.
	MaxBodyBytes int64
	// UpstreamTimeout bounds the wait for an upstream's response headers
	// (default 30s); DialTimeout the connection to it (default 5s).
	UpstreamTimeout time.Duration
	DialTimeout     time.Duration
	// Public listener timeouts (defaults 5s, 60s, 120s, 120s).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	// CookieSecure marks the session cookie Secure (required in
	// ProductionMode, and implied by TLS).
	CookieSecure bool
	// ProductionMode refuses unsafe settings: no PublicAddr, cookies
	// without Secure, a missing upstream, no Secrets or admins without TOTP.
	ProductionMode bool

	// Secrets seals staff TOTP seeds at rest (FABRIKA_SECRET_KEY); without
	// it nobody can enrol a second factor. AllowAdminWithoutTOTP is the
	// development switch that lets admins work without one (fabrika dev);
	// by default an admin without one is sent to enrol first.
	Secrets               *secretbox.Box
	AllowAdminWithoutTOTP bool

	// Sessions last SessionTTL (12h) and end after SessionIdle (1h)
	// without use. Sign-in failures are throttled with growing delays
	// (staff.Config.Throttle's defaults).
	SessionTTL  time.Duration
	SessionIdle time.Duration

	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time
}

const defaultMaxBody = 10 << 20

// GCPercent is the garbage collector's target (GOGC) that the gateway's
// command sets when GOGC is not in its environment. The gateway allocates
// about 11 KB per proxied request on a live heap of a few megabytes, so at
// Go's default of 100 it collects many times a second under load; at 200
// it collects half as often, for about 10 MB more memory.
const GCPercent = 200

func (c *Config) validate() error {
	if c.Signer == nil {
		return errors.New("gateway: an identity signer is required")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("gateway: TLS needs both a certificate and a key file")
	}
	for name, u := range c.upstreams() {
		if u == "" {
			if c.ProductionMode {
				return fmt.Errorf("gateway: the %s URL is required", name)
			}
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.RawQuery != "" || p.Fragment != "" {
			return fmt.Errorf("gateway: the %s URL %q must be an absolute http(s) URL without query", name, u)
		}
	}
	if c.ProductionMode {
		if c.PublicAddr == "" {
			return errors.New("gateway: production mode needs a public listener (PublicAddr) apart from the internal one")
		}
		if !c.CookieSecure && c.TLSCertFile == "" {
			return errors.New("gateway: production mode needs Secure cookies (CookieSecure or TLS)")
		}
		if c.Secrets == nil || c.AllowAdminWithoutTOTP {
			return errors.New("gateway: production mode needs FABRIKA_SECRET_KEY (Secrets) to keep staff TOTP seeds, and admins with TOTP")
		}
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = defaultMaxBody
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defD(&c.UpstreamTimeout, 30*time.Second)
	defD(&c.DialTimeout, 5*time.Second)
	defD(&c.ReadHeaderTimeout, 5*time.Second)
	defD(&c.ReadTimeout, 60*time.Second)
	defD(&c.WriteTimeout, 120*time.Second)
	defD(&c.IdleTimeout, 120*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.TLSCertFile != "" {
		c.CookieSecure = true
	}
	return nil
}

func (c *Config) upstreams() map[string]string {
	return map[string]string{route.Shop: c.Shop, route.CRM: c.CRM, route.MESOperator: c.MESOperator, route.MESAPI: c.MESAPI}
}

// Cookies, headers and form fields of the gateway.
const (
	// SessionCookie holds a staff session's random token.
	SessionCookie = web.SessionCookie
	// LoginCookie binds the sign-in form to the browser (login CSRF).
	LoginCookie = web.LoginCookie
	// HeaderCSRF carries the session's CSRF token: from the gateway to the
	// CRM and mes-operator (to put in their forms as the csrf_token field
	// or in their pages for scripts), and from staff scripts back to the
	// gateway.
	HeaderCSRF = web.HeaderCSRF
	// FieldCSRF is the form field carrying the CSRF token.
	FieldCSRF = web.FieldCSRF
)

// ParseTrustedProxies reads FABRIKA_TRUSTED_PROXIES: comma-separated
// CIDRs; a bare address is a prefix of its own length.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) { return web.ParseTrustedProxies(s) }

// Service is the gateway.
type Service struct {
	log      *slog.Logger
	staff    *staff.Service
	public   *web.Public
	publicLn net.Listener // bound by New when PublicAddr is set
}

// New builds the gateway on a host whose database carries the gateway's
// migrations (services/gateway/migrations). It subscribes to
// pricelist.published, to keep the workstations operators may be bound to,
// and announces every staff account (staff.changed): each change, and all
// of them at start, so that a copy that missed some converges.
func New(ctx context.Context, h *host.Host, cfg Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st := store.New(h.DB, announceStaff(h.Outbox))
	sv, err := staff.New(st, staff.Config{Secrets: cfg.Secrets, AllowAdminWithoutTOTP: cfg.AllowAdminWithoutTOTP,
		SessionTTL: cfg.SessionTTL, SessionIdle: cfg.SessionIdle, Caches: h.Caches, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	pub, err := web.NewPublic(web.PublicConfig{
		Upstreams: cfg.upstreams(), Signer: cfg.Signer, TrustedProxies: cfg.TrustedProxies,
		TLSCertFile: cfg.TLSCertFile, TLSKeyFile: cfg.TLSKeyFile, MaxBodyBytes: cfg.MaxBodyBytes, CookieSecure: cfg.CookieSecure,
		UpstreamTimeout: cfg.UpstreamTimeout, DialTimeout: cfg.DialTimeout,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout,
		Now: cfg.Now,
	}, web.PublicDeps{Staff: sv, Store: st, Log: h.Log, TP: h.TP, Prop: h.Prop, Metrics: h.Metrics})
	if err != nil {
		return nil, err
	}
	s := &Service{log: h.Log, staff: sv, public: pub}
	if err := resyncStaff(ctx, h.DB, st, h.Outbox); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	h.Inbox.Subscribe("pricelist", map[string]inbox.Handler{
		contracts.Subject(contracts.PriceListPublished): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, p contracts.PriceListV1) error {
			return learnWorkstations(ctx, tx, p)
		}),
	})
	if cfg.PublicAddr == "" {
		h.Log.WarnContext(ctx, "gateway: no public listener configured; serving on the host listener, where /metrics, /healthz, /readyz and /admin are the host's own (development only)")
	} else if s.publicLn, err = net.Listen("tcp", cfg.PublicAddr); err != nil {
		return nil, fmt.Errorf("gateway: public listener: %w", err)
	}
	return s, nil
}

// Handler returns the public handler: the route table, the staff pages,
// the proxy. It does not include the platform's operational routes.
func (s *Service) Handler() http.Handler { return s.public.Handler() }

// Background serves the public listener when PublicAddr is set, and cleans
// up expired sessions.
func (s *Service) Background() []func(context.Context) error {
	bg := []func(context.Context) error{host.Every(10*time.Minute, s.log, "gateway: session cleanup", s.staff.Cleanup)}
	if s.publicLn != nil {
		bg = append(bg, func(ctx context.Context) error { return s.ServePublic(ctx, s.publicLn) })
	}
	return bg
}

// PublicAddr is the bound public address ("" without a public listener),
// e.g. to learn the port when PublicAddr was ":0".
func (s *Service) PublicAddr() string {
	if s.publicLn == nil {
		return ""
	}
	return s.publicLn.Addr().String()
}

// PublicHandler is Handler wrapped with the platform's request observation
// (trace context, X-Request-Id, access log, panic recovery), as the public
// listener serves it.
func (s *Service) PublicHandler() http.Handler { return s.public.Observed() }

// ServePublic serves the public handler on ln until ctx ends; Background
// calls it with the listener New bound.
func (s *Service) ServePublic(ctx context.Context, ln net.Listener) error {
	return s.public.Serve(ctx, ln)
}

// announceStaff enqueues staff.changed for an account in the transaction
// that changed it.
func announceStaff(o *outbox.Outbox) store.ChangeHook {
	return func(ctx context.Context, tx *sqldb.Tx, a store.Account) error {
		m, err := outbox.NewMessage(contracts.Subject(contracts.StaffChanged), a.ID, contracts.StaffChangedV1{
			StaffID: a.ID, Login: a.Login, Role: a.Role, Workstations: a.Workstations, Disabled: a.Disabled, ChangedAt: a.UpdatedAt.UTC()})
		if err != nil {
			return err
		}
		return o.Enqueue(ctx, tx, m)
	}
}

// resyncStaff announces every account once.
func resyncStaff(ctx context.Context, db *sqldb.DB, st *store.Store, o *outbox.Outbox) error {
	list, err := st.Accounts(ctx)
	if err != nil || len(list) == 0 {
		return err
	}
	announce := announceStaff(o)
	return db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		for _, a := range list {
			if err := announce(ctx, tx, a); err != nil {
				return fmt.Errorf("announce staff %s: %w", a.Login, err)
			}
		}
		return nil
	})
}

// learnWorkstations keeps the workstations of a price list as the ones
// operators may be bound to, unless a newer list is known.
func learnWorkstations(ctx context.Context, tx *sqldb.Tx, p contracts.PriceListV1) error {
	ws := make([]store.Workstation, len(p.Workstations))
	for i, w := range p.Workstations {
		ws[i] = store.Workstation{Code: w.Code, Name: w.Name}
	}
	_, err := store.ApplyWorkstations(ctx, tx, p.Version, ws)
	return err
}

// LearnWorkstations records the workstations of a price list in the
// gateway's database as the pricelist.published handler does: for a
// gateway database prepared before the platform first runs (tests, a
// migration from another system).
func LearnWorkstations(ctx context.Context, db *sqldb.DB, p contracts.PriceListV1) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error { return learnWorkstations(ctx, tx, p) })
}

// CheckStaffRole checks a role and its workstations against the gateway's
// database (migrated with the gateway's migrations) as CreateStaff will,
// so that a command can refuse them before it asks for a password.
func CheckStaffRole(ctx context.Context, db *sqldb.DB, role string, workstations []string) error {
	sv, err := staff.New(store.New(db, nil), staff.Config{})
	if err != nil {
		return err
	}
	return sv.CheckRole(ctx, role, workstations)
}

// Workstations lists the codes of the workstations the gateway learnt from
// the MES's price list: those an operator may be given (CreateStaff).
func Workstations(ctx context.Context, db *sqldb.DB) ([]string, error) {
	ws, err := store.New(db, nil).Workstations(ctx)
	if err != nil {
		return nil, err
	}
	codes := make([]string, len(ws))
	for i, w := range ws {
		codes[i] = w.Code
	}
	return codes, nil
}

// CreateStaff creates a staff account in the gateway's database (migrated
// with the gateway's migrations): the way the first admin comes to be
// (`fabrika admin create`). There is no default account or password.
// Operators must be given at least one workstation of those the gateway
// learnt from the MES's price list; others none.
//
// The account is announced (staff.changed) through the gateway's outbox
// table: the gateway's relay publishes it when it runs.
func CreateStaff(ctx context.Context, db *sqldb.DB, login, password, role string, workstations []string) error {
	// An outbox that is never run: Enqueue writes the row and the running
	// gateway's relay sends it.
	o, err := outbox.New(db, nil, outbox.Config{Connected: func() bool { return false }},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		return err
	}
	sv, err := staff.New(store.New(db, announceStaff(o)), staff.Config{})
	if err != nil {
		return err
	}
	if _, err := sv.Create(ctx, login, password, role, workstations); err != nil {
		return fmt.Errorf("create staff %s: %w", login, err)
	}
	return nil
}
