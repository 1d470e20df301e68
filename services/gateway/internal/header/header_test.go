package header

import (
	"net/http"
	"strings"
	"testing"
)

var own = []string{"fabrika_staff", "fabrika_login"}

func TestScrubRequest(t *testing.T) {
	t.Parallel()
	h := http.Header{"Fabrika-Identity": {"a"}, "Fabrika_identity": {"b"}, "FABRIKA-IDENTITY": {"c"}, "X-Csrf-Token": {"d"},
		"Authorization": {"Bearer k"}, "Cookie": {"shop_session=1; fabrika_staff=s", "Fabrika_Login=l;x=y"}}
	ScrubRequest(h, own...)
	if len(h) != 2 || h.Get("Authorization") != "Bearer k" || h.Get("Cookie") != "shop_session=1; x=y" {
		t.Fatalf("after scrub: %v", h)
	}
	h = http.Header{"Cookie": {"a=1; b=2"}}
	ScrubRequest(h, own...)
	if h.Get("Cookie") != "a=1; b=2" {
		t.Fatalf("untouched cookies rewritten: %q", h.Get("Cookie"))
	}
}

func TestFolds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"Fabrika-Identity", true}, {"fabrika_identity", true}, {"FABRIKA_IDENTITY", true}, {"fAbRiKa-iDeNtItY", true},
		{"Fabrika-Identit", false}, {"Fabrika-Identity ", false}, {"Fabrika-Identity2", false}, {"Fabrika.Identity", false},
		{"Fabri\u212aa-Identity", true}, // the Kelvin sign (U+212A) folds to k
		{"", false},
	} {
		if got := folds(tc.name, "fabrika-identity"); got != tc.want {
			t.Errorf("folds(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestScrubResponse(t *testing.T) {
	t.Parallel()
	h := http.Header{"Content-Security-Policy": {"default-src *"}, "X-Request-Id": {"u"}, "Content-Type": {"text/html"},
		"Set-Cookie": {"fabrika_staff=planted; Path=/", "shop_session=1; Path=/"}}
	ScrubResponse(h, []string{"Content-Security-Policy", "X-Request-Id"}, own...)
	if len(h) != 2 || h.Get("Content-Type") != "text/html" || strings.Join(h.Values("Set-Cookie"), "|") != "shop_session=1; Path=/" {
		t.Fatalf("after scrub: %v", h)
	}
}

// FuzzScrubRequest: whatever a client sends, no identity or CSRF header and
// no gateway cookie goes upstream, and the other cookies do.
func FuzzScrubRequest(f *testing.F) {
	f.Add("Fabrika-Identity", "x", "fabrika_staff=abc; shop_session=1")
	f.Add("fabrika_identity", "x", "FABRIKA_STAFF=abc;shop=1; fabrika_login=2")
	f.Add("X-CSRF-TOKEN", "t", " a=b ;; fabrika_staff = x ;c=d")
	f.Add("Fabrika-Identity\x00", "", "=;=;")
	f.Fuzz(func(t *testing.T, name, value, cookie string) {
		h := http.Header{}
		h[name] = []string{value}
		h[Identity] = []string{value}
		h["Cookie"] = []string{cookie, "fabrika_staff=second"}
		before := (&http.Request{Header: h.Clone()}).Cookies()
		ScrubRequest(h, own...)
		for k := range h {
			if n := strings.ToLower(strings.ReplaceAll(k, "_", "-")); n == "fabrika-identity" || n == "x-csrf-token" {
				t.Fatalf("header %q survived", k)
			}
		}
		if n := strings.ToLower(strings.ReplaceAll(name, "_", "-")); n != "fabrika-identity" && n != "x-csrf-token" && name != "Cookie" {
			if _, ok := h[name]; !ok {
				t.Fatalf("header %q removed", name)
			}
		}
		after := (&http.Request{Header: h}).Cookies()
		kept := map[string]int{}
		for _, c := range after {
			if isOne(c.Name, own) {
				t.Fatalf("cookie %q survived in %q", c.Name, h.Values("Cookie"))
			}
			kept[c.Name+"="+c.Value]++
		}
		for _, c := range before {
			if isOne(c.Name, own) {
				continue
			}
			if kept[c.Name+"="+c.Value] == 0 {
				t.Fatalf("cookie %s=%s lost from %q: now %q", c.Name, c.Value, cookie, h.Values("Cookie"))
			}
			kept[c.Name+"="+c.Value]--
		}
	})
}
