// Package header removes from requests and responses crossing the gateway
// what only the gateway may say: identity and CSRF headers in any spelling,
// and the gateway's own cookies.
package header

import (
	"net/http"
	"strings"
)

// Identity is the header carrying a signed staff identity (platform/identity).
const Identity = "Fabrika-Identity"

// CSRF is the header carrying the session's CSRF token.
const CSRF = "X-Csrf-Token"

// ScrubRequest removes any identity or CSRF header (also spelled with
// underscores or in another case, which some servers fold into the same
// name) and the named cookies from a request going upstream.
func ScrubRequest(h http.Header, cookies ...string) {
	for k := range h {
		if folds(k, "fabrika-identity") || folds(k, "x-csrf-token") {
			delete(h, k)
		}
	}
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	changed := false
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if isOne(name, cookies) {
				changed = true
				continue
			}
			if t := strings.TrimSpace(part); t != "" {
				kept = append(kept, t)
			}
		}
	}
	if !changed {
		return
	}
	h.Del("Cookie")
	if len(kept) > 0 {
		h.Set("Cookie", strings.Join(kept, "; "))
	}
}

// ScrubResponse removes the owned headers (the gateway sets its own) and
// any Set-Cookie of the named cookies from an upstream's response.
func ScrubResponse(h http.Header, owned []string, cookies ...string) {
	for _, k := range owned {
		h.Del(k)
	}
	sc := h.Values("Set-Cookie")
	if len(sc) == 0 {
		return
	}
	var kept []string
	for _, c := range sc {
		name, _, _ := strings.Cut(c, "=")
		if !isOne(name, cookies) {
			kept = append(kept, c)
		}
	}
	h.Del("Set-Cookie")
	for _, c := range kept {
		h.Add("Set-Cookie", c)
	}
}

// folds tells whether name, lower-cased and with "_" read as "-", is want
// (lower case, ASCII): without allocating, as it runs for every header of
// every request.
func folds(name, want string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 { // Unicode case folding: the general way
			return strings.ToLower(strings.ReplaceAll(name, "_", "-")) == want
		}
	}
	if len(name) != len(want) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

func isOne(name string, cookies []string) bool {
	name = strings.TrimSpace(name)
	for _, c := range cookies {
		if strings.EqualFold(name, c) {
			return true
		}
	}
	return false
}
