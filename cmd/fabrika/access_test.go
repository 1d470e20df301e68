package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/platform/testenv"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
)

// TestAccessMatrixOnRunningServices walks the public routes, reads and
// actions, as every kind of caller (anonymous, shop customer, manager,
// operator, admin, B2B API key) against the whole platform: the real shop,
// CRM, mes-operator, mes-api and mes-calc behind the gateway. A caller is
// allowed when the service itself answered the request (whatever its
// business answer); refused with 401 or 403 (by the gateway for staff
// routes, by the service for customers' and API keys' routes); internal
// routes answer 404 to everyone, admins included.
func TestAccessMatrixOnRunningServices(t *testing.T) {
	t.Parallel()
	stations := demoStations()
	var creds mesapi.Credentials
	p := startMain(t, func(ctx context.Context, m *Main) {
		seedStaff(ctx, t, m, staffAccount{"mia.manager", "manager", nil}, staffAccount{"otto.operator", "operator", stations},
			staffAccount{"ada.admin", "admin", nil})
		creds = seedAPIClient(ctx, t, m, "Access Matrix GmbH", "buy@matrix.example")
	})
	const wait = 90 * time.Second

	callers := map[string]*client{
		"anonymous": newClient(t, p.public),
		"customer":  newClient(t, p.public),
		"manager":   newClient(t, p.public),
		"operator":  newClient(t, p.public),
		"admin":     newClient(t, p.public),
		"apikey":    newClient(t, p.public),
	}
	everyone := []string{"anonymous", "customer", "manager", "operator", "admin", "apikey"}
	eventually(t, wait, "the shop's catalogue", func() (bool, string) {
		res := callers["anonymous"].get("/shop/api/v1/catalog")
		return res.code == 200, res.String()
	})
	callers["customer"].shopSignUp("Matrix")
	callers["manager"].staffSignIn("mia.manager", staffPassword)
	callers["operator"].staffSignIn("otto.operator", staffPassword)
	callers["admin"].staffSignIn("ada.admin", staffPassword)
	callers["apikey"].header.Set("Authorization", "Bearer "+creds.Key)

	// A real order, so that reads and actions on it reach real data.
	res := callers["customer"].do("POST", "/shop/api/v1/orders", shopOrder(), map[string]string{"Idempotency-Key": uuid.NewString()})
	if res.code != http.StatusCreated {
		t.Fatalf("shop order: %s", res)
	}
	var placed struct {
		ID string `json:"id"`
	}
	res.decode(t, &placed)
	var crm crmOrder
	eventually(t, wait, "the order in the CRM", func() (bool, string) {
		res := callers["manager"].get("/crm/api/v1/orders/" + placed.ID)
		if res.code == 200 {
			res.decode(t, &crm)
		}
		return res.code == 200, res.String()
	})

	staffOnly := func(roles ...string) []string { return roles }
	type route struct {
		method, path string
		body         any
		allowed      []string
		ok           []int // the answers that mean the service served an allowed caller
	}
	anyAnswer := []int{200, 201, 202, 303, 404, 409, 422} // an action's business answer
	routes := []route{
		// The shop: public pages and catalogue; a customer's own orders.
		{"GET", "/", nil, everyone, []int{200}},
		{"GET", "/catalog", nil, everyone, []int{200}},
		{"GET", "/shop/api/v1/catalog", nil, everyone, []int{200}},
		{"GET", "/shop/api/v1/me", nil, staffOnly("customer"), []int{200}},
		{"GET", "/shop/api/v1/orders", nil, staffOnly("customer"), []int{200}},
		{"GET", "/shop/api/v1/orders/" + placed.ID, nil, staffOnly("customer"), []int{200}},
		{"POST", "/shop/api/v1/orders/" + placed.ID + "/cancel", map[string]string{"reason": "access matrix"}, staffOnly("customer"), anyAnswer},
		// The CRM: managers and admins.
		{"GET", "/crm/api/v1/orders", nil, staffOnly("manager", "admin"), []int{200}},
		{"GET", "/crm/api/v1/orders/" + placed.ID, nil, staffOnly("manager", "admin"), []int{200}},
		{"GET", "/crm/api/v1/stuck", nil, staffOnly("manager", "admin"), []int{200}},
		{"GET", "/crm/orders", nil, staffOnly("manager", "admin"), []int{200}},
		{"POST", "/crm/api/v1/orders/" + placed.ID + "/notes", map[string]any{"note": "access matrix", "version": crm.Order.Version}, staffOnly("manager", "admin"), anyAnswer},
		{"POST", "/crm/api/v1/orders/" + placed.ID + "/hold", map[string]any{"reason": "access matrix", "version": crm.Order.Version}, staffOnly("manager", "admin"), anyAnswer},
		// mes-operator: operators and admins.
		{"GET", "/mes/api/v1/workstations", nil, staffOnly("operator", "admin"), []int{200}},
		{"GET", "/mes/api/v1/workstations/" + stations[0] + "/queue", nil, staffOnly("operator", "admin"), []int{200}},
		{"POST", "/mes/api/v1/operations/" + uuid.NewString() + "/start", map[string]any{"event_id": uuid.NewString()}, staffOnly("operator", "admin"), anyAnswer},
		{"POST", "/mes/api/v1/orders/" + placed.ID + "/ship", map[string]any{"carrier": "DHL", "tracking_number": "1"}, staffOnly("operator", "admin"), anyAnswer},
		// mes-api: API keys.
		{"GET", "/api/v1/orders", nil, staffOnly("apikey"), []int{200}},
		{"POST", "/api/v1/quotes", apiOrder(), staffOnly("apikey"), []int{200, 201, 422}},
		{"GET", "/api/v1/webhooks", nil, staffOnly("apikey"), []int{200}},
		// The gateway's staff pages: any staff; account management: admins.
		{"GET", "/staff/", nil, staffOnly("manager", "operator", "admin"), []int{200}},
		{"GET", "/staff/admin/staff", nil, staffOnly("admin"), []int{200}},
		{"GET", "/staff/admin/audit", nil, staffOnly("admin"), []int{200}},
		// mes-api's pages for the API clients: admins; through /api/ they
		// get no staff identity, so nobody.
		{"GET", "/b2b/clients", nil, staffOnly("admin"), []int{200}},
		{"POST", "/b2b/clients", url.Values{"name": {"Matrix Two GmbH"}}, staffOnly("admin"), []int{303}},
		{"GET", "/api/b2b/clients", nil, staffOnly(), nil},
	}
	for _, rt := range routes {
		for _, who := range everyone {
			c := callers[who]
			res := c.do(rt.method, rt.path, rt.body, nil)
			if slices.Contains(rt.allowed, who) {
				if !slices.Contains(rt.ok, res.code) {
					t.Errorf("%s %s %s: %s, want one of %v", who, rt.method, rt.path, res, rt.ok)
				}
			} else if res.code != http.StatusUnauthorized && res.code != http.StatusForbidden {
				t.Errorf("%s %s %s: %s, want 401 or 403", who, rt.method, rt.path, res)
			}
		}
	}

	// Creating a staff account: admins only (the form, with the session's
	// CSRF token as the X-Csrf-Token header the staff clients send).
	for _, who := range everyone {
		form := url.Values{"login": {"new-" + who}, "role": {"manager"}, "password": {"a long enough password"}}
		res := callers[who].do("POST", "/staff/admin/staff", form, nil)
		switch {
		case who == "admin" && res.code != http.StatusSeeOther && res.code != http.StatusCreated && res.code != http.StatusOK:
			t.Errorf("admin creates an account: %s", res)
		case who != "admin" && res.code != http.StatusUnauthorized && res.code != http.StatusForbidden:
			t.Errorf("%s creates an account: %s, want 401 or 403", who, res)
		}
	}

	// Internal routes — metrics, health, every service's admin API (outbox,
	// dead letters, API clients), mes-calc's price administration — have no
	// public route at all: 404 for everyone, also under every prefix.
	internal := []string{"/metrics", "/healthz", "/readyz", "/admin/outbox", "/admin/dead-letters", "/admin/orders/x/trace",
		"/pricing/price-list", "/pricing/settings", "/debug/pprof/", "/internal/x",
		"/api/metrics", "/api/admin/outbox", "/api/admin/clients", "/api/pricing/price-list",
		"/METRICS", "/%61dmin/outbox", "/api/%2e%2e/admin/outbox", "/crm/..%2fadmin/outbox", "/mes/%2e%2e/metrics"}
	for _, path := range internal {
		for _, who := range everyone {
			for _, method := range []string{"GET", "PUT"} {
				res, err := callers[who].try(method, path, nil, nil)
				if err != nil {
					t.Fatalf("%s %s %s: %v", who, method, path, err)
				}
				if res.code != http.StatusNotFound && res.code != http.StatusBadRequest {
					t.Errorf("%s %s %s: %s, want 404 (or 400 for a non-canonical path)", who, method, path, res)
				}
			}
		}
	}

	// Under /crm/ and /mes/ the path goes to the service as it is, so
	// /crm/metrics is the CRM's page of that name (none), not its /metrics:
	// callers without the role are refused before, the others get the
	// service's 404; nobody gets an operational answer.
	for _, path := range []string{"/crm/metrics", "/crm/healthz", "/crm/admin/outbox", "/mes/metrics", "/mes/healthz", "/mes/admin/dead-letters"} {
		for _, who := range everyone {
			res := callers[who].do("GET", path, nil, nil)
			if res.code != http.StatusNotFound && res.code != http.StatusUnauthorized && res.code != http.StatusForbidden {
				t.Errorf("%s GET %s: %s, want 404, 401 or 403", who, path, res)
			}
		}
	}

	// A client that reaches a service's own port directly (inside the
	// network, past the gateway) finds no operational or admin route there;
	// on the admin listener the admin actions need the admin token (or an
	// admin's identity token), whatever else it sends.
	var staffCookie string
	if u, err := url.Parse(p.public); err == nil {
		for _, ck := range callers["admin"].http.Jar.Cookies(u) {
			staffCookie += ck.Name + "=" + ck.Value + "; "
		}
	}
	adminActions := []struct{ method, path string }{
		{"GET", "/admin/outbox"}, {"POST", "/admin/outbox/all/retry"}, {"POST", "/admin/outbox/x/drop"},
		{"GET", "/admin/dead-letters"}, {"POST", "/admin/dead-letters/x/replay"}, {"POST", "/admin/dead-letters/x/discard"},
		{"GET", "/debug/pprof/"}, {"GET", "/debug/pprof/profile?seconds=1"},
	}
	for _, s := range platformServices {
		if s != "gateway" {
			app := newClient(t, "http://"+p.m.Addr(s))
			for _, a := range append(adminActions, struct{ method, path string }{"GET", "/metrics"}, struct{ method, path string }{"GET", "/readyz"}) {
				if res := app.do(a.method, a.path, nil, nil); res.code != http.StatusNotFound {
					t.Errorf("%s's application port: %s %s: %s, want 404", s, a.method, a.path, res)
				}
			}
		}
		adm := newClient(t, "http://"+p.m.AdminAddr(s))
		for _, a := range adminActions {
			for name, hdr := range map[string]map[string]string{
				"nothing":         nil,
				"a wrong token":   {"Authorization": "Bearer " + p.m.AdminToken() + "x"},
				"an API key":      {"Authorization": "Bearer " + creds.Key},
				"a staff session": {"Cookie": staffCookie},
			} {
				if res := adm.do(a.method, a.path, nil, hdr); res.code != http.StatusUnauthorized && res.code != http.StatusForbidden {
					t.Errorf("%s's admin port with %s: %s %s: %s, want 401 or 403", s, name, a.method, a.path, res)
				}
			}
		}
		if res := adm.do("GET", "/admin/outbox", nil, map[string]string{"Authorization": "Bearer " + p.m.AdminToken()}); res.code != http.StatusOK {
			t.Errorf("%s's admin port with the admin token: %s", s, res)
		}
		for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
			if res := adm.get(path); res.code != http.StatusOK {
				t.Errorf("%s's admin port: GET %s: %s", s, path, res)
			}
		}
	}
	if p.m.AdminToken() == "" {
		t.Fatal("the platform runs without an admin token")
	}

	// Data at rest is its owner's only: the data directory 0700, the admin
	// token and every SQLite file (with its -wal and -shm) 0600.
	dir := p.m.Config.DataDir
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data directory %s: %v %v, want 0700", dir, st.Mode().Perm(), err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.db*"))
	files = append(files, adminTokenFile(dir))
	if !testenv.Postgres() && len(files) < len(platformServices)+1 {
		t.Errorf("only %v in the data directory", files)
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", f, st.Mode().Perm(), err)
		}
	}

	// Every staff action above is in the audit log, readable by the admin.
	res = callers["admin"].do("GET", "/staff/admin/audit?format=json&limit=500", nil, nil)
	var audit struct {
		Entries []struct {
			Login, Action, Method, Path string
		} `json:"entries"`
	}
	res.decode(t, &audit)
	for _, want := range []string{"mia.manager POST /crm/api/v1/orders/" + placed.ID + "/notes", "ada.admin POST /staff/admin/staff"} {
		found := false
		for _, e := range audit.Entries {
			found = found || fmt.Sprintf("%s %s %s", e.Login, e.Method, e.Path) == want
		}
		if !found {
			t.Errorf("the audit log has no %q: %s", want, res)
		}
	}
}
