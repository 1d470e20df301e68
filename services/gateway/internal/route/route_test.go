package route

import (
	"errors"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"
)

func resolveTarget(t testing.TB, rs *Resolver, target string) (Match, error) {
	t.Helper()
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return Match{}, ErrBadPath // the HTTP server refuses it before the gateway
	}
	return rs.Resolve(u.Path, u.EscapedPath())
}

func TestResolve(t *testing.T) {
	t.Parallel()
	rs := NewResolver(Table())
	for _, tc := range []struct {
		target, upstream, path string
		staff                  bool
	}{
		{"/", Shop, "/", false},
		{"/products/blue-mug?x=1", Shop, "/products/blue-mug", false},
		{"/account/login", Shop, "/account/login", false},
		{"/crm/", CRM, "/crm/", true},
		{"/crm/orders/01J", CRM, "/crm/orders/01J", true},
		{"/mes/queue", MESOperator, "/mes/queue", true},
		{"/api/v1/orders", MESAPI, "/v1/orders", false},
		{"/api/", MESAPI, "/", false},
		{"/staff/login", "", "/staff/login", false},
		{"/staff/", "", "/staff/", true},
		{"/staff/admin/audit", "", "/staff/admin/audit", true},
		{"/staff/static/style.css", "", "/staff/static/style.css", false},
		{"/crmx", Shop, "/crmx", false}, // not the CRM's prefix
		{"/administrator", Shop, "/administrator", false},
	} {
		m, err := resolveTarget(t, rs, tc.target)
		if err != nil {
			t.Errorf("%s: %v", tc.target, err)
			continue
		}
		if m.Route.Upstream != tc.upstream || m.Path != tc.path || m.Route.Staff() != tc.staff {
			t.Errorf("%s: got upstream %q path %q staff %v; want %q %q %v", tc.target, m.Route.Upstream, m.Path, m.Route.Staff(), tc.upstream, tc.path, tc.staff)
		}
	}
	for _, p := range []string{"/crm", "/mes", "/staff"} {
		_, err := resolveTarget(t, rs, p)
		var red *Redirect
		if !errors.As(err, &red) || red.Location != p+"/" {
			t.Errorf("%s: got %v, want a redirect to %s/", p, err, p)
		}
	}
}

// tricks are ways of spelling a path that some server, somewhere, could
// read as another path.
func tricks(prefix, name string) []string {
	p := strings.TrimSuffix(prefix, "/")
	return []string{
		prefix + name, prefix + name + "/", prefix + name + "/x", prefix + strings.ToUpper(name), prefix + name + ";x",
		prefix + name + ".", prefix + name + "%2e",
		p + "/../" + name, p + "/./" + name, p + "//" + name, p + "/%2e%2e/" + name, p + "/%2E%2E/" + name,
		p + "/..%2f" + name, p + "/..%2F" + name, p + "%2f" + name, p + "%2F..%2F" + name, p + "/%252e%252e/" + name,
		p + "/..\\" + name, p + "\\..\\" + name, p + "%5c..%5c" + name, p + "/..;/" + name, p + "/%2e%2e;/" + name,
		p + "/x/../../" + name, p + "/x/%2e%2e/%2e%2e/" + name, "/" + name + "%00", p + "/\t/../" + name,
		"//" + name, "/./" + name, "/%2f" + name, "/%5c" + name, "/" + strings.ToUpper(name[:1]) + name[1:],
	}
}

// TestTableRefusesInternalRoutes walks the route table and proves that no
// prefix, however the path is spelled, reaches an internal route.
func TestTableRefusesInternalRoutes(t *testing.T) {
	t.Parallel()
	table := Table()
	rs := NewResolver(table)
	known := []string{Shop, CRM, MESOperator, MESAPI, ""}
	for _, r := range table {
		if !slices.Contains(known, r.Upstream) {
			t.Errorf("route %s goes to unknown upstream %q (mes-calc has no public route)", r.Prefix, r.Upstream)
		}
		for _, f := range Forbidden() {
			if strings.EqualFold(strings.Trim(r.Prefix, "/"), f) {
				t.Errorf("route %s exposes an internal prefix", r.Prefix)
			}
		}
	}
	for _, r := range table {
		for _, name := range Forbidden() {
			for _, target := range tricks(r.Prefix, name) {
				m, err := resolveTarget(t, rs, target)
				if err == nil && m.Route.Upstream != "" {
					// Allowed only if the upstream sees a path under its own
					// prefix (a CRM page called /crm/admin is the CRM's).
					if first := strings.ToLower(strings.Split(m.Path, "/")[1]); slices.Contains(Forbidden(), strings.TrimRight(strings.SplitN(first, ";", 2)[0], ". ")) {
						t.Errorf("%s reaches %s %s", target, m.Route.Upstream, m.Path)
					}
					if r.Prefix != "/" && r.Strip == "" && !strings.HasPrefix(m.Path, r.Prefix) && m.Route.Prefix == r.Prefix {
						t.Errorf("%s escapes %s to %s", target, r.Prefix, m.Path)
					}
				}
				if err == nil && m.Route.Upstream == "" && m.Route.Prefix != r.Prefix && !strings.HasPrefix(target, "/staff/") {
					t.Errorf("%s reaches the gateway's own %s", target, m.Path)
				}
			}
		}
	}
	// The root route and /api/ strip nothing the upstream could read as an
	// internal route: every forbidden name straight below them is refused.
	for _, name := range Forbidden() {
		for _, prefix := range []string{"/", "/api/"} {
			for _, target := range tricks(prefix, name) {
				if m, err := resolveTarget(t, rs, target); err == nil {
					t.Errorf("%s: resolved to %s %s, want refused", target, m.Route.Upstream, m.Path)
				}
			}
		}
	}
}

func TestCanonical(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"/", true}, {"/a/b/", true}, {"/a/b.c", true}, {"/a/...", true}, {"/a%20b", true},
		{"/a//b", false}, {"/a/./b", false}, {"/a/../b", false}, {"/a/%2e%2e/b", false}, {"/a%2fb", false},
		{"/a%5Cb", false}, {"/a%25b", false}, {"/a%00", false}, {"/a/..;x/b", false}, {"/" + strings.Repeat("a", MaxPathLen), false},
	} {
		u, err := url.ParseRequestURI(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		if err := Canonical(u.Path, u.EscapedPath()); (err == nil) != tc.ok {
			t.Errorf("Canonical(%q) = %v, want ok=%v", tc.target, err, tc.ok)
		}
	}
}

// The plain ways (a lower-case copy, a split into segments) that the
// checks in Canonical must agree with.
func badEscapeReference(escaped string) bool {
	low := strings.ToLower(escaped)
	return strings.Contains(low, "%2f") || strings.Contains(low, "%5c") || strings.Contains(low, "%00") || strings.Contains(low, "%25")
}

func cleanSegmentsReference(p string) bool {
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if s == "" && i != len(segs)-1 {
			return false
		}
		if s, _, _ = strings.Cut(s, ";"); s == "." || s == ".." {
			return false
		}
	}
	return true
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"/", "/a//b", "/a/./b", "/a/..;x/b", "/a/", "//", "/a%2F", "/A%5c", "/%25", "/x/%00", "/.", "/..", "/a;b/c", "/;/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got, want := badEscape(p), badEscapeReference(p); got != want {
			t.Fatalf("badEscape(%q) = %v, the reference says %v", p, got, want)
		}
		if !strings.HasPrefix(p, "/") {
			return
		}
		if got, want := cleanSegments(p), cleanSegmentsReference(p); got != want {
			t.Fatalf("cleanSegments(%q) = %v, the reference says %v", p, got, want)
		}
	})
}

// FuzzResolve: whatever the request target, a path the gateway accepts is
// canonical, reaches no internal route on any upstream, and stays under its
// route's prefix.
func FuzzResolve(f *testing.F) {
	for _, r := range Table() {
		for _, name := range []string{"admin", "metrics", "x"} {
			for _, s := range tricks(r.Prefix, name) {
				f.Add(s)
			}
		}
	}
	f.Add("/api/v1/orders?x=1")
	f.Add("/crm/orders/%41")
	rs := NewResolver(Table())
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Opaque != "" {
			return
		}
		m, err := rs.Resolve(u.Path, u.EscapedPath())
		if err != nil {
			return
		}
		up := m.Path
		if !strings.HasPrefix(up, "/") || strings.Contains(up, "//") || strings.ContainsAny(up, "\\%\x00") {
			t.Fatalf("%q: upstream path %q not canonical", target, up)
		}
		if c := path.Clean(up); c != up && c+"/" != up {
			t.Fatalf("%q: upstream path %q is not clean (%q)", target, up, c)
		}
		first := strings.ToLower(strings.SplitN(strings.SplitN(up[1:], "/", 2)[0], ";", 2)[0])
		if m.Route.Strip != "" || m.Route.Prefix == "/" {
			if slices.Contains(Forbidden(), strings.TrimRight(first, ". ")) {
				t.Fatalf("%q reaches internal %q on %s", target, up, m.Route.Upstream)
			}
		}
		if !strings.HasPrefix(u.Path, strings.TrimSuffix(m.Route.Prefix, "/")) {
			t.Fatalf("%q matched %s", target, m.Route.Prefix)
		}
		// The upstream, a Go server, must read the same path from the
		// request line the proxy writes.
		out := &url.URL{Path: up}
		back, err := url.ParseRequestURI(out.EscapedPath())
		if err != nil || back.Path != up {
			t.Fatalf("%q: upstream would read %v (%v), not %q", target, back, err, up)
		}
	})
}
