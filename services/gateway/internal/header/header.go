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
		if IsIdentity(k) {
			delete(h, k)
		}
	}
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	kept := make([]string, 0, len(lines))
	changed := false
	for _, line := range lines {
		k, c := ScrubCookies(line, cookies...)
		changed = changed || c
		if k != "" {
			kept = append(kept, k)
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

// IsIdentity tells whether a request header is an identity or CSRF header,
// which only the gateway may send, in any case and with "_" for "-".
func IsIdentity[T string | []byte](name T) bool {
	return folds(name, "fabrika-identity") || folds(name, "x-csrf-token")
}

// ScrubCookies returns a Cookie line without the named cookies, and
// whether it removed any; the line is returned as it came when not.
func ScrubCookies(line string, cookies ...string) (kept string, changed bool) {
	var parts []string
	for part := range strings.SplitSeq(line, ";") {
		name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
		if isOne(name, cookies) {
			changed = true
			continue
		}
		if t := strings.TrimSpace(part); t != "" {
			parts = append(parts, t)
		}
	}
	if !changed {
		return line, false
	}
	return strings.Join(parts, "; "), true
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
		if !SetsCookie(c, cookies...) {
			kept = append(kept, c)
		}
	}
	h.Del("Set-Cookie")
	for _, c := range kept {
		h.Add("Set-Cookie", c)
	}
}

// SetsCookie tells whether a Set-Cookie value sets one of the named cookies.
func SetsCookie[T string | []byte](setCookie T, cookies ...string) bool {
	i := 0
	for i < len(setCookie) && setCookie[i] != '=' {
		i++
	}
	return isOne(string(setCookie[:i]), cookies)
}

// folds tells whether name, lower-cased and with "_" read as "-", is want
// (lower case, ASCII): without allocating, as it runs for every header of
// every request.
func folds[T string | []byte](name T, want string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 { // Unicode case folding: the general way
			return strings.ToLower(strings.ReplaceAll(string(name), "_", "-")) == want
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
