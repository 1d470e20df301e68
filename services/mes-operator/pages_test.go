package mesoperator_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// inline finds what the gateway's Content-Security-Policy (default-src
// 'self') blocks in a page: style elements and attributes, scripts written
// in the page, and event handler attributes.
var inline = regexp.MustCompile(`(?i)<style|\sstyle=|<script(?:\s[^>]*)?>[^<]|\son[a-z]+=`)

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
		if m := inline.FindString(body); m != "" {
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
