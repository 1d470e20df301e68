package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/platform/ratelimit"
)

type doc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

func loadDoc(t *testing.T) doc {
	t.Helper()
	var d doc
	if err := json.Unmarshal(OpenAPI(), &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if d.OpenAPI != "3.1.0" || len(d.Paths) == 0 {
		t.Fatalf("not an OpenAPI 3.1 document: %q, %d paths", d.OpenAPI, len(d.Paths))
	}
	return d
}

var methods = []string{"get", "post", "put", "patch", "delete"}

// TestOpenAPIMatchesRoutes sends a request for every documented operation to
// the real mux (without a key: a routed request is refused with 401, an
// unrouted one is 404 or 405), and checks that every route is documented.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	d := loadDoc(t)
	api := New(nil, ratelimit.New(ratelimit.PerMinute(60), 0, nil), nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h := api.Handler()
	routed := func(method, path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec.Code
	}
	documented := map[string]bool{}
	for path, ops := range d.Paths {
		for m := range ops {
			if !slices.Contains(methods, m) {
				continue
			}
			method := strings.ToUpper(m)
			documented[method+" "+path] = true
			concrete := strings.NewReplacer("{id}", "some-id").Replace(path)
			if code := routed(method, concrete); code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
				t.Errorf("documented %s %s is not routed (%d)", method, path, code)
			}
		}
	}
	for _, rt := range api.Routes() {
		if !documented[rt.Pattern()] {
			t.Errorf("route %s is not documented", rt.Pattern())
		}
	}
	for _, rt := range api.AdminRoutes() {
		if _, ok := d.Paths[rt.Path]; ok {
			t.Errorf("internal admin route %s is in the public document", rt.Path)
		}
	}
	// The check can fail: an undocumented path is not routed.
	if code := routed("GET", "/v1/not-a-route"); code != http.StatusNotFound {
		t.Fatalf("unknown path answered %d", code)
	}
	if code := routed("PUT", "/v1/orders"); code != http.StatusMethodNotAllowed {
		t.Fatalf("unknown method answered %d", code)
	}
	if code := routed("GET", "/v1/openapi.json"); code != http.StatusOK {
		t.Fatalf("openapi.json answered %d", code)
	}
}

// TestOpenAPIReferencesResolve checks that every $ref points at a component.
func TestOpenAPIReferencesResolve(t *testing.T) {
	t.Parallel()
	var root map[string]any
	if err := json.Unmarshal(OpenAPI(), &root); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				var cur any = root
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := cur.(map[string]any)
					cur = m[part]
				}
				if cur == nil {
					t.Errorf("unresolved $ref %s", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(root)
}
