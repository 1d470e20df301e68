package web

import (
	"net/url"
	"strings"
)

// defaultNext is where a sign-in goes when it was given no usable target.
const defaultNext = "/orders"

// safeNext returns s when it is a path of this site, else defaultNext. It
// judges s as a browser would read it: browsers drop tabs and newlines
// from a URL and read a backslash as a slash, so "/\t/evil.example" and
// "/\\evil.example" lead off-site; any control character, backslash or
// encoded form of them is refused rather than repaired.
func safeNext(s string) string {
	if p, ok := localPath(s); ok {
		return p
	}
	return defaultNext
}

func localPath(s string) (string, bool) {
	if len(s) == 0 || len(s) > 2000 || s[0] != '/' {
		return "", false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\\' || (r >= 0x80 && r <= 0x9f) || r == 0xfffd {
			return "", false
		}
	}
	if len(s) > 1 && s[1] == '/' { // "//host" is another site
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	// Percent-encoded slashes, backslashes and controls in the path stay
	// encoded in a browser, but a server or proxy behind us may decode
	// them; refuse them too.
	if strings.ContainsAny(u.Path, "\\\x00") || strings.HasPrefix(u.Path, "//") {
		return "", false
	}
	for _, r := range u.Path {
		if r < 0x20 || r == 0x7f {
			return "", false
		}
	}
	out := u.EscapedPath()
	if u.RawQuery != "" {
		out += "?" + strings.ReplaceAll(u.RawQuery, " ", "%20") // a browser would trim a trailing space
	}
	if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") {
		return "", false
	}
	return out, true
}
