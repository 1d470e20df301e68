package crm_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/platform/webasset"
)

// TestPages: every page takes its style from the CRM's static files (no
// inline style or script), shows who is signed in with a sign-out form,
// shows only the actions the order's status allows, filters the orders by
// a manager chosen from the staff accounts, and answers unknown paths with
// the CRM's own 404 page.
func TestPages(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	e := startCRM(t, b)
	p := startProducer(t, b, testenv.HostConfig(t, "shop", nil))
	emit(t, p.run.Host().DB, placedEv(1, "shop"), placedEv(2, "api"), pricedEv(1))
	testenv.EventuallyTrue(t, brokerWait, "order 1 priced, order 2 placed", func() bool {
		// Each order's events are handled apart: order 2 may come after order 1's price.
		resp, body := e.do("GET", "/crm/api/v1/orders/order-001", identity.RoleManager, nil, nil)
		resp2, _ := e.do("GET", "/crm/api/v1/orders/order-002", identity.RoleManager, nil, nil)
		return resp.StatusCode == 200 && strings.Contains(body, `"status":"priced"`) && resp2.StatusCode == 200
	})
	html := map[string]string{"Accept": "text/html"}
	get := func(path string, want int) (*http.Response, string) {
		t.Helper()
		resp, body := e.do("GET", path, identity.RoleManager, nil, html)
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d: %s", path, resp.StatusCode, want, body)
		}
		return resp, body
	}

	css := regexp.MustCompile(`href="(/crm/static/style\.css\?v=[0-9a-f]+)"`)
	for _, path := range []string{"/crm/orders", "/crm/orders/order-001", "/crm/customers", "/crm/customers/cust-1", "/crm/stuck"} {
		_, body := get(path, 200)
		if m := webasset.Inline(body); m != "" {
			t.Errorf("%s has inline %q", path, m)
		}
		if !css.MatchString(body) || !strings.Contains(body, `rel="icon"`) {
			t.Errorf("%s links no style sheet or icon", path)
		}
		if !strings.Contains(body, `action="/staff/logout"`) || !strings.Contains(body, "manager-mia (manager)") {
			t.Errorf("%s: the header shows no sign-out or no signed-in name", path)
		}
	}

	// The style sheet: cached for a year under its versioned URL.
	_, body := get("/crm/orders", 200)
	resp, sheet := e.do("GET", css.FindStringSubmatch(body)[1], identity.RoleManager, nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || !strings.Contains(sheet, "form.filters{") {
		t.Fatalf("style sheet: %d %v", resp.StatusCode, resp.Header)
	}
	// Bad static paths and unknown pages: the CRM's 404 page, no listing.
	for _, path := range []string{"/crm/static/", "/crm/static/nope.css", "/crm/static/style.css/x", "/crm/nope", "/crm/orders/order-001/nope/x"} {
		resp, body := get(path, 404)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "<h1>Not Found</h1>") ||
			strings.Contains(body, "style.css</a>") {
			t.Errorf("%s: %v %s", path, resp.Header, body)
		}
	}
	if _, body := get("/crm/orders/missing", 404); !strings.Contains(body, "There is no order missing.") {
		t.Errorf("unknown order: %s", body)
	}
	if resp, _ := e.do("GET", "/crm/api/v1/nope", identity.RoleManager, nil, nil); resp.StatusCode != 404 ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown API path: %d %v", resp.StatusCode, resp.Header)
	}

	// Only the actions the status allows: a priced order can be confirmed,
	// a placed one cannot; neither can be resumed.
	_, priced := get("/crm/orders/order-001", 200)
	_, placed := get("/crm/orders/order-002", 200)
	for _, c := range []struct {
		body, action string
		want         bool
	}{{priced, "confirm", true}, {priced, "hold", true}, {priced, "resume", false}, {placed, "confirm", false}, {placed, "cancel", true}} {
		if got := strings.Contains(c.body, "/"+c.action+`"`); got != c.want {
			t.Errorf("action %s shown = %v, want %v", c.action, got, c.want)
		}
	}
	// The card names the order by number, never by message id.
	if strings.Contains(priced, "<small>") {
		t.Error("the timeline still shows message ids")
	}
	// ?done= shows only an action's name.
	if _, body := get("/crm/orders/order-001?done=%3Cb%3Eyou+won%3C/b%3E", 200); strings.Contains(body, "you won") {
		t.Error("done shows text from the URL")
	}
	if _, body := get("/crm/orders/order-001?done=notes", 200); !strings.Contains(body, "Done: notes.") {
		t.Error("done=notes is not shown")
	}

	// Pending cancellation requests: flagged in the list and filterable.
	emit(t, p.run.Host().DB, event{contracts.OrderCancelRequested, "order-002", contracts.OrderStatusChangedV1{OrderID: "order-002",
		Reason: "ordered twice", At: t0.Add(2 * time.Hour)}})
	testenv.EventuallyTrue(t, brokerWait, "the cancellation request", func() bool {
		_, body := e.do("GET", "/crm/api/v1/orders?cancel=requested", identity.RoleManager, nil, nil)
		return strings.Contains(body, `"number":"FAB-0002"`) && strings.Contains(body, `"cancel_requested":true`)
	})
	_, requested := get("/crm/orders?cancel=requested", 200)
	if !strings.Contains(requested, "FAB-0002") || strings.Contains(requested, "FAB-0001") ||
		!strings.Contains(requested, "cancellation requested</span>") || !strings.Contains(requested, `value="requested" checked`) {
		t.Errorf("cancel=requested: %s", requested)
	}
	if _, all := get("/crm/orders", 200); !strings.Contains(all, "FAB-0001") || strings.Count(all, "cancellation requested</span>") != 1 {
		t.Errorf("the list does not flag exactly the one request")
	}
	get("/crm/orders?cancel=maybe", 400)

	// Where the order is on the shop floor, from mes-operator's events
	// (they may arrive in any order).
	if _, body := get("/crm/orders/order-001", 200); !strings.Contains(body, "Not started on the shop floor yet.") {
		t.Errorf("a card before production: %s", body)
	}
	at := t0.Add(3 * time.Hour)
	emit(t, p.run.Host().DB,
		event{contracts.PriceListPublished, "pricelist", contracts.DemoPriceList(t0)},
		event{contracts.OperationFinished, "order-001", contracts.OperationFinishedV1{OrderID: "order-001", LineNo: 1, Seq: 1,
			Operation: "laser_cut", Workstation: "laser", GoodQty: 2, Operator: "otto", At: at.Add(10 * time.Minute)}},
		event{contracts.OperationStarted, "order-001", contracts.OperationStartedV1{OrderID: "order-001", LineNo: 1, Seq: 1,
			Operation: "laser_cut", Workstation: "laser", Operator: "otto", At: at}},
		event{contracts.OperationStarted, "order-001", contracts.OperationStartedV1{OrderID: "order-001", LineNo: 1, Seq: 2,
			Operation: "bend", Workstation: "press_brake", Operator: "olga", At: at.Add(20 * time.Minute)}})
	testenv.EventuallyTrue(t, brokerWait, "the shop floor on the card", func() bool {
		_, body := e.do("GET", "/crm/orders/order-001", identity.RoleManager, nil, html)
		// Operations and workstations by the price list's names.
		return strings.Contains(body, "Now: line 1 step 2 Bending</strong> at Press brake, started 2026-03-01 12:20 by olga") &&
			strings.Contains(body, "2026-03-01 12:00 by otto</td><td>2026-03-01 12:10 by otto")
	})
	// The lines by name, never by code.
	if _, body := get("/crm/orders/order-001", 200); !strings.Contains(body, "<td>Laser-cut sheet part</td><td>Steel S235 · 200 × 100 × 2 mm · Powder coating</td>") ||
		strings.Contains(body, "laser_cut_sheet") || strings.Contains(body, "steel_s235") {
		t.Errorf("the lines show codes: %s", body)
	}

	// Assignment: a select of the gateway's managers (staff.changed); an
	// assignee who is not one is refused by the field.
	emit(t, p.run.Host().DB, event{contracts.StaffChanged, "s-mia", contracts.StaffChangedV1{StaffID: "s-mia", Login: "mia", Role: "manager", ChangedAt: t0}},
		event{contracts.StaffChanged, "s-otto", contracts.StaffChangedV1{StaffID: "s-otto", Login: "otto", Role: "operator", ChangedAt: t0}})
	var card string
	testenv.EventuallyTrue(t, brokerWait, "the managers in the assign form", func() bool {
		_, card = e.do("GET", "/crm/orders/order-001", identity.RoleManager, nil, html)
		return strings.Contains(card, `<option value="mia">mia</option>`)
	})
	if strings.Contains(card, `value="otto"`) {
		t.Error("an operator is offered as manager")
	}
	version := regexp.MustCompile(`action="/crm/orders/order-001/assign"><input type="hidden" name="version" value="(\d+)"`).FindStringSubmatch(card)
	if version == nil {
		t.Fatalf("no assign form: %s", card)
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
	if resp, body := e.do("POST", "/crm/orders/order-001/assign", identity.RoleManager, strings.NewReader("version="+version[1]+"&manager=otto"), form); resp.StatusCode != 422 ||
		!strings.Contains(body, "otto is not an active manager&#39;s account") {
		t.Errorf("assign to an operator: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("POST", "/crm/orders/order-001/assign", identity.RoleManager, strings.NewReader("version="+version[1]+"&manager=mia"), form); resp.StatusCode != 303 {
		t.Errorf("assign to mia: %d", resp.StatusCode)
	}

	// The orders list filters by manager with a select of the same
	// accounts, "anyone" and "unassigned"; never free text.
	var mine string
	testenv.EventuallyTrue(t, brokerWait, "order 1 listed as mia's", func() bool {
		_, mine = get("/crm/orders?manager=mia", 200)
		return strings.Contains(mine, "FAB-0001")
	})
	if strings.Contains(mine, "FAB-0002") || !strings.Contains(mine, `<option value="mia" selected>mia</option>`) ||
		!strings.Contains(mine, `<select name="manager"><option value="">anyone</option><option value="-">unassigned</option>`) ||
		strings.Contains(mine, `value="otto"`) || strings.Contains(mine, `<input name="manager"`) {
		t.Errorf("manager=mia: %s", mine)
	}
	if _, nobody := get("/crm/orders?manager=-", 200); !strings.Contains(nobody, "FAB-0002") || strings.Contains(nobody, "FAB-0001") ||
		!strings.Contains(nobody, `<option value="-" selected>unassigned</option>`) {
		t.Errorf("manager=- (unassigned): %s", nobody)
	}
	if _, gone := get("/crm/orders?manager=max", 200); strings.Contains(gone, "FAB-000") || !strings.Contains(gone, `<option value="max" selected>max</option>`) {
		t.Errorf("manager=max (no such account) does not keep the filter shown: %s", gone)
	}

	// Customers: a list with search.
	_, all := get("/crm/customers", 200)
	if !strings.Contains(all, "Customer 1") || !strings.Contains(all, "Customer 2") {
		t.Fatalf("customers list: %s", all)
	}
	_, found := get("/crm/customers?q=acme", 200)
	if !strings.Contains(found, "Customer 2") || strings.Contains(found, "Customer 1") {
		t.Errorf("search acme: %s", found)
	}
	if _, none := get("/crm/customers?q=%25", 200); !strings.Contains(none, "No customer matches.") {
		t.Error("a % is matched as a wildcard")
	}
	get("/crm/customers?q="+strings.Repeat("x", 201), 400)
}
