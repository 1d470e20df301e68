package mesoperator_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/webasset"
)

// TestPageLayout: the operators' pages take their style from static files
// (no inline style or script), name who is signed in beside a sign-out
// form, and answer unknown paths with the operators' own 404 page.
func TestPageLayout(t *testing.T) {
	t.Parallel()
	w := start(t)
	id := uuid.NewString()
	w.confirm(id)
	css := regexp.MustCompile(`href="(/mes/static/style\.css\?v=[0-9a-f]+)"`)
	for _, path := range []string{"/mes/", "/mes/workstations/laser1", "/mes/orders/" + id} {
		res, b := w.do(http.MethodGet, path, &ana, nil)
		body := string(b)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, res.StatusCode, b)
		}
		if m := webasset.Inline(body); m != "" {
			t.Errorf("%s has inline %q", path, m)
		}
		if !css.MatchString(body) || !strings.Contains(body, `rel="icon"`) {
			t.Errorf("%s links no style sheet or icon", path)
		}
		if !strings.Contains(body, `action="/staff/logout"`) || !strings.Contains(body, "<span>ana</span>") {
			t.Errorf("%s: the header shows no sign-out or no signed-in name", path)
		}
	}
	_, b := w.do(http.MethodGet, "/mes/", &ana, nil)
	res, sheet := w.do(http.MethodGet, css.FindStringSubmatch(string(b))[1], nil, nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/css; charset=utf-8" ||
		!strings.Contains(res.Header.Get("Cache-Control"), "immutable") || !strings.Contains(string(sheet), "min-height:64px") {
		t.Fatalf("style sheet: %d %v", res.StatusCode, res.Header)
	}
	for _, path := range []string{"/mes/static/", "/mes/static/nope.css", "/mes/nope", "/mes/orders/" + id + "/x/y"} {
		res, b := w.do(http.MethodGet, path, &ana, nil)
		if res.StatusCode != http.StatusNotFound || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(string(b), "<h1>Not found</h1>") {
			t.Errorf("%s: %d %v %s", path, res.StatusCode, res.Header, b)
		}
	}
	if res, _ := w.do(http.MethodGet, "/mes/api/v1/nope", &ana, nil); res.StatusCode != 404 || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown API path: %d %v", res.StatusCode, res.Header)
	}
}

// TestOtherWorkstationsOrders (issue 15, point 13): an operator cannot read
// an order, or an operation, that has no step at their workstations.
func TestOtherWorkstationsOrders(t *testing.T) {
	t.Parallel()
	w := start(t)
	id := uuid.NewString()
	cut, _ := w.confirm(id) // laser1 and bend1: ana's, not boris's
	for _, path := range []string{"/mes/api/v1/orders/" + id, "/mes/orders/" + id, "/mes/api/v1/operations/" + cut} {
		if res, b := w.do(http.MethodGet, path, &boris, nil); res.StatusCode != http.StatusForbidden {
			t.Errorf("boris GET %s: %d %s", path, res.StatusCode, b)
		}
		if res, b := w.do(http.MethodGet, path, &ana, nil); res.StatusCode != http.StatusOK {
			t.Errorf("ana GET %s: %d %s", path, res.StatusCode, b)
		}
		if res, b := w.do(http.MethodGet, path, &admin, nil); res.StatusCode != http.StatusOK {
			t.Errorf("admin GET %s: %d %s", path, res.StatusCode, b)
		}
	}
}

// TestJobCard (issue 17): the job card says what to make (quantity,
// product, material, size, finish, the line, the managers' notes), and a
// step cannot be finished with fewer parts counted than ordered.
func TestJobCard(t *testing.T) {
	t.Parallel()
	w := start(t)
	id := uuid.NewString()
	o := confirmedOrder(id)
	o.Lines = []contracts.LineItem{{LineNo: 1, Product: "laser_cut_sheet", Quantity: 10, Lead: "standard",
		Options: map[string]string{"material": "steel_s235", "width_mm": "200", "height_mm": "100", "thickness_mm": "2", "finish": "powder_coat"}}}
	pl := contracts.DemoPriceList(time.Now())
	pl.Workstations = append(pl.Workstations, contracts.Workstation{Code: "laser1", Name: "Fibre laser 1", HourlyRate: 9000, HoursPerDay: 8})
	w.publish(contracts.PriceListPublished, "pricelist", pl)
	w.publish(contracts.OrderNoteAdded, id, contracts.OrderNoteAddedV1{OrderID: id, Note: "Pack each part in foil.", By: "mia", At: time.Now().UTC()})
	w.publish(contracts.OrderConfirmed, id, o)
	var cut string
	w.eventually("the order planned with its lines and note, the price list's names known", func() bool {
		if _, b := w.do(http.MethodGet, "/mes/workstations/laser1", &ana, nil); !strings.Contains(string(b), "Steel S235") {
			return false
		}
		res, b := w.do(http.MethodGet, "/mes/api/v1/orders/"+id, &ana, nil)
		var v struct {
			Operations []struct {
				ID       string `json:"id"`
				Quantity int    `json:"quantity"`
			} `json:"operations"`
			Notes []struct{ Body string } `json:"notes"`
		}
		if res.StatusCode != 200 || json.Unmarshal(b, &v) != nil || len(v.Operations) != 2 || len(v.Notes) != 1 {
			return false
		}
		cut = v.Operations[0].ID
		return v.Operations[0].Quantity == 10
	})
	_, b := w.do(http.MethodGet, "/mes/workstations/laser1", &ana, nil)
	// Names from the price list, not codes.
	for _, want := range []string{"10 × Laser-cut sheet part", "<dt>Material</dt><dd>Steel S235</dd>", "<dd>200 × 100 × 2</dd>",
		"<dd>Powder coating</dd>", "line 1", "<strong>Laser cutting</strong>"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("queue card lacks %q", want)
		}
	}
	_, b = w.do(http.MethodGet, "/mes/orders/"+id, &ana, nil)
	for _, want := range []string{"What to make", "Pack each part in foil.", "Size (mm): 200 × 100 × 2", `/mes/workstations/laser1">Fibre laser 1</a>`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("order page lacks %q", want)
		}
	}

	w.act(&ana, cut, "start", nil, http.StatusOK)
	// 0 good of 10: refused, nothing written.
	b = w.act(&ana, cut, "finish", map[string]any{"event_id": uuid.NewString()}, http.StatusUnprocessableEntity)
	if !strings.Contains(string(b), "only 0 of 10 parts are counted") || !strings.Contains(string(b), `"good_qty"`) {
		t.Errorf("finish with 0 of 10: %s", b)
	}
	// The form re-renders with the message next to the field.
	req, _ := http.NewRequestWithContext(w.ctx, http.MethodPost, w.base+"/mes/operations/"+cut+"/finish",
		strings.NewReader(url.Values{"event_id": {uuid.NewString()}, "good_qty": {"7"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res, b := w.send(req, &ana); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "only 7 of 10 parts are counted") {
		t.Errorf("finish form with 7 of 10: %d %s", res.StatusCode, b)
	}
	// 7 good and 3 scrapped with a reason: every part accounted for.
	w.act(&ana, cut, "finish", map[string]any{"event_id": uuid.NewString(), "good_qty": 7, "scrap_qty": 3, "scrap_reason": "burr"}, http.StatusOK)
}
