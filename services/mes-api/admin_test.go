package mesapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/identity"
)

func TestAdminManagesClientsAndKeys(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), true)
	admin := identity.RoleAdmin
	var c struct{ ID string }
	e.admin("POST", "/clients", admin, map[string]string{"name": "Gear Works"}).json(t, &c)
	var k struct{ ID, Key string }
	res := e.admin("POST", "/clients/"+c.ID+"/keys", admin, map[string]any{"scopes": []string{"orders:read"}, "rate_limit_per_minute": 50})
	res.json(t, &k)
	if res.status != http.StatusCreated || k.Key == "" {
		t.Fatalf("create key: %d %s", res.status, res.body)
	}
	for _, tc := range []struct {
		name, method, path, role string
		body                     any
		status                   int
	}{
		{"no token", "GET", "/clients", "", nil, http.StatusUnauthorized},
		{"operator", "GET", "/clients", identity.RoleOperator, nil, http.StatusForbidden},
		{"empty name", "POST", "/clients", admin, map[string]string{"name": " "}, http.StatusUnprocessableEntity},
		{"unknown field", "POST", "/clients", admin, map[string]string{"nom": "x"}, http.StatusBadRequest},
		{"unknown scope", "POST", "/clients/" + c.ID + "/keys", admin, map[string]any{"scopes": []string{"root"}}, http.StatusUnprocessableEntity},
		{"absurd rate", "POST", "/clients/" + c.ID + "/keys", admin, map[string]any{"scopes": []string{"orders:read"}, "rate_limit_per_minute": -1}, http.StatusUnprocessableEntity},
		{"unknown client", "POST", "/clients/nope/keys", admin, map[string]any{"scopes": []string{"orders:read"}}, http.StatusNotFound},
		{"revoke unknown key", "POST", "/clients/" + c.ID + "/keys/nope/revoke", admin, nil, http.StatusNotFound},
		{"revoke unknown client", "POST", "/clients/nope/revoke", admin, nil, http.StatusNotFound},
	} {
		var r response
		if tc.role == "" {
			r = e.do(tc.method, tc.path, "", nil, tc.body)
		} else {
			r = e.admin(tc.method, tc.path, tc.role, tc.body)
		}
		if r.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
		}
	}
	var list struct {
		Data []struct {
			ID   string
			Keys []struct{ Prefix string }
		}
	}
	e.admin("GET", "/clients", admin, nil).json(t, &list)
	found := false
	for _, x := range list.Data {
		found = found || x.ID == c.ID && len(x.Keys) == 1
	}
	if !found {
		t.Fatalf("client not listed: %+v", list)
	}
	if r := e.do("GET", "/v1/orders", k.Key, nil, nil); r.status != http.StatusOK || r.header.Get("RateLimit-Limit") != "50" {
		t.Fatalf("key before revocation: %d %v", r.status, r.header)
	}
	if r := e.admin("POST", "/clients/"+c.ID+"/revoke", admin, nil); r.status != http.StatusOK || !contains(r.body, "revoked_at") {
		t.Fatalf("revoke client: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/orders", k.Key, nil, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("key of a revoked client: %d", r.status)
	}
	if r := e.admin("POST", "/clients/"+c.ID+"/keys", admin, map[string]any{"scopes": []string{"orders:read"}}); r.status != http.StatusConflict {
		t.Fatalf("key for a revoked client: %d", r.status)
	}
}

func TestPriceListNewestWins(t *testing.T) {
	t.Parallel()
	e := start(t, fastWebhooks(), true) // version 1
	key := e.newKey("orders:read")
	v3 := contracts.DemoPriceList(time.Now())
	v3.Version, v3.MinimumUnitPrice = 3, 1_000_000
	v2 := contracts.DemoPriceList(time.Now())
	v2.Version = 2
	e.publish(contracts.PriceListPublished, "pricelist", v3)
	e.publish(contracts.PriceListPublished, "pricelist", v2) // late: ignored
	var q struct {
		Version int64 `json:"price_list_version"`
		Lines   []struct {
			UnitPrice int64 `json:"unit_price"`
		}
	}
	e.eventually("version 3", func() bool {
		e.do("POST", "/v1/quotes", key, nil, quoteBody).json(t, &q)
		return q.Version == 3
	})
	var ids []string
	e.eventually("version 2 handled", func() bool {
		rows, err := e.h.DB.QueryContext(e.ctx, `SELECT msg_id FROM inbox WHERE subject = $1`, contracts.Subject(contracts.PriceListPublished))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		ids = ids[:0]
		for rows.Next() {
			var id string
			_ = rows.Scan(&id)
			ids = append(ids, id)
		}
		return len(ids) == 3
	})
	e.do("POST", "/v1/quotes", key, nil, quoteBody).json(t, &q)
	if q.Version != 3 || q.Lines[0].UnitPrice != 1_000_000 {
		t.Fatalf("quote after a late older version: %+v", q)
	}
	var stored int64
	if err := e.h.DB.QueryRowContext(e.ctx, `SELECT version FROM price_list WHERE id = 1`).Scan(&stored); err != nil || stored != 3 {
		t.Fatalf("stored version %d %v", stored, err)
	}
}
