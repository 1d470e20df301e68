package webasset

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSet(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"style.css":   {Data: []byte("body{color:red}")},
		"favicon.svg": {Data: []byte("<svg xmlns='http://www.w3.org/2000/svg'></svg>")},
		"sub/x.css":   {Data: []byte("nope")},
	}
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("area 404"))
	})
	s, err := New(fsys, "/crm/static/", notFound)
	if err != nil {
		t.Fatal(err)
	}
	u := s.URL("style.css")
	if !strings.HasPrefix(u, "/crm/static/style.css?v=") {
		t.Fatalf("URL = %q", u)
	}
	tests := []struct {
		name, method, target, inm string
		code                      int
		ctype, cache, body        string
	}{
		{"versioned", "GET", u, "", 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable", "body{color:red}"},
		{"unversioned", "GET", "/crm/static/style.css", "", 200, "text/css; charset=utf-8", "public, max-age=300", "body{color:red}"},
		{"svg", "GET", "/crm/static/favicon.svg", "", 200, "image/svg+xml", "public, max-age=300", "<svg"},
		{"head", "HEAD", "/crm/static/style.css", "", 200, "text/css; charset=utf-8", "public, max-age=300", ""},
		{"not modified", "GET", "/crm/static/style.css", `"` + strings.TrimPrefix(u, "/crm/static/style.css?v=") + `"`, 304, "", "", ""},
		{"directory", "GET", "/crm/static/", "", 404, "", "", "area 404"},
		{"sub directory", "GET", "/crm/static/sub/", "", 404, "", "", "area 404"},
		{"file in sub directory", "GET", "/crm/static/sub/x.css", "", 404, "", "", "area 404"},
		{"dot dot", "GET", "/crm/static/../style.css", "", 404, "", "", "area 404"},
		{"missing", "GET", "/crm/static/nope.css", "", 404, "", "", "area 404"},
		{"post", "POST", "/crm/static/style.css", "", 405, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tc.method, "http://x"+"/", nil)
			if p, q, ok := strings.Cut(tc.target, "?"); ok {
				req.URL.Path, req.URL.RawQuery = p, q
			} else {
				req.URL.Path = tc.target
			}
			if tc.inm != "" {
				req.Header.Set("If-None-Match", tc.inm)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("%s %s: %d %s", tc.method, tc.target, rec.Code, rec.Body)
			}
			if tc.ctype != "" && rec.Header().Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type = %q, want %q", rec.Header().Get("Content-Type"), tc.ctype)
			}
			if tc.cache != "" && rec.Header().Get("Cache-Control") != tc.cache {
				t.Errorf("Cache-Control = %q, want %q", rec.Header().Get("Cache-Control"), tc.cache)
			}
			if tc.body != "" && !strings.HasPrefix(rec.Body.String(), tc.body) {
				t.Errorf("body = %q, want prefix %q", rec.Body, tc.body)
			}
			if tc.code == 200 && rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
		})
	}
}

// Every set serves the shared files; a service's own file of the same name
// wins over the shared one.
func TestSharedFiles(t *testing.T) {
	t.Parallel()
	own := []byte("<svg id='own'></svg>")
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		file string
		want string // body prefix
	}{
		{"shared icon", fstest.MapFS{"style.css": {Data: []byte("a")}}, "favicon.svg", "<svg"},
		{"shared look", fstest.MapFS{"style.css": {Data: []byte("a")}}, "backoffice.css", "/* The back office"},
		{"own icon wins", fstest.MapFS{"favicon.svg": {Data: own}}, "favicon.svg", string(own)},
		{"own style", fstest.MapFS{"style.css": {Data: []byte("a")}}, "style.css", "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := New(tc.fsys, "/x/", nil)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest("GET", s.URL(tc.file), nil))
			if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), tc.want) {
				t.Fatalf("%s: %d %q, want 200 %q...", tc.file, rec.Code, rec.Body, tc.want)
			}
		})
	}
}

func TestURLPanicsOnUnknownAsset(t *testing.T) {
	t.Parallel()
	s, err := New(fstest.MapFS{"a.css": {Data: []byte("a")}}, "/x/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for an unknown asset")
		}
	}()
	s.URL("b.css")
}

func TestInline(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ page, want string }{
		{`<link rel="stylesheet" href="/x.css"><script src="/q.js" defer></script>`, ""},
		{`<style>body{}</style>`, "<style"},
		{`<p style="color:red">`, ` style=`},
		{`<script>alert(1)</script>`, "<script>a"},
		{`<button onclick="x()">`, ` onclick=`},
	} {
		if got := Inline(c.page); got != c.want {
			t.Errorf("Inline(%q) = %q, want %q", c.page, got, c.want)
		}
	}
}
