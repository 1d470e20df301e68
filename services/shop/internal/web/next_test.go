package web

import (
	"net/url"
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
	}{
		{"/orders/S-2026-000001", "/orders/S-2026-000001"},
		{"/catalog/laser_cut_sheet?width_mm=200&finish=powder_coat", "/catalog/laser_cut_sheet?width_mm=200&finish=powder_coat"},
		{"/cart", "/cart"},
		{"/", "/"},
		{"/a b", "/a%20b"},
		{"/%2e%2e/cart", "/%2e%2e/cart"},
		// Off-site, as a browser reads them.
		{"/\t/evil.example", defaultNext},
		{"/\n/evil.example", defaultNext},
		{"/\r\n/evil.example", defaultNext},
		{"\t//evil.example", defaultNext},
		{"//evil.example", defaultNext},
		{"///evil.example", defaultNext},
		{"/\\evil.example", defaultNext},
		{"\\\\evil.example", defaultNext},
		{"/%5Cevil.example", defaultNext},
		{"/%2F/evil.example", defaultNext},
		{"/%2f%2fevil.example", defaultNext},
		{"/%09/evil.example", defaultNext},
		{"/\u0085/evil.example", defaultNext},
		{"https://evil.example/", defaultNext},
		{"javascript:alert(1)", defaultNext},
		{"evil.example", defaultNext},
		{"", defaultNext},
		{"/" + strings.Repeat("a", 3000), defaultNext},
	} {
		if got := safeNext(tc.in); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// browserNormalise does what a browser's URL parser does to a Location
// before resolving it: drops tabs and newlines, trims C0 controls and
// spaces at the ends, and reads backslashes as slashes.
func browserNormalise(s string) string {
	s = strings.Trim(s, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	s = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(s)
	return strings.ReplaceAll(s, "\\", "/")
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/orders", "/\t/evil.example", "/\\evil", "//x", "/%2F/x", "/a?b=//c", "/%5C%5Cx"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://shop.example/account/login")
	f.Fuzz(func(t *testing.T, s string) {
		out := safeNext(s)
		n := browserNormalise(out)
		if n != out {
			t.Fatalf("safeNext(%q) = %q, which a browser reads as %q", s, out, n)
		}
		if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") {
			t.Fatalf("safeNext(%q) = %q: not a path of this site", s, out)
		}
		u, err := url.Parse(out)
		if err != nil {
			t.Fatalf("safeNext(%q) = %q does not parse: %v", s, out, err)
		}
		if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme {
			t.Fatalf("safeNext(%q) = %q leads to %s", s, out, r)
		}
		if p, _ := url.PathUnescape(u.EscapedPath()); strings.HasPrefix(p, "//") || strings.Contains(p, "\\") {
			t.Fatalf("safeNext(%q) = %q decodes to %q", s, out, p)
		}
	})
}
