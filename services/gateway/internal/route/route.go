// Package route is the gateway's route table and the path checks that stand
// between a public request and an upstream: which prefix goes where, who may
// use it, and which paths are refused before anything is proxied. It imports
// only the standard library so that it can be reasoned about (and fuzzed) on
// its own.
package route

import (
	"errors"
	"slices"
	"strings"
)

// Upstream names. mes-calc has none on purpose: it has no public route.
const (
	Shop        = "shop"
	CRM         = "crm"
	MESOperator = "mes-operator"
	MESAPI      = "mes-api"
)

// Staff roles (the same strings as platform/identity).
const (
	RoleAdmin    = "admin"
	RoleManager  = "manager"
	RoleOperator = "operator"
)

// Route is one line of the table.
type Route struct {
	// Prefix is matched against the request path: a prefix ending in "/"
	// matches everything below it, any other an exact path.
	Prefix string
	// Upstream is the service the request is proxied to; "" means the
	// gateway serves it itself.
	Upstream string
	// Strip is removed from the front of the path before proxying.
	Strip string
	// Roles, when not nil, are the staff roles allowed; the request needs a
	// staff session, and a proxied one gets a freshly signed identity token.
	// A route without roles never carries an identity token upstream.
	Roles []string
}

// Staff tells whether the route needs a signed-in staff member.
func (r Route) Staff() bool { return r.Roles != nil }

// Allows tells whether role may use the route.
func (r Route) Allows(role string) bool { return slices.Contains(r.Roles, role) }

// Table is the whole public surface of Fabrika, in one place. Order does not
// matter: the longest matching prefix wins.
func Table() []Route {
	allStaff := []string{RoleAdmin, RoleManager, RoleOperator}
	return []Route{
		{Prefix: "/", Upstream: Shop},
		{Prefix: "/crm/", Upstream: CRM, Roles: []string{RoleManager, RoleAdmin}},
		{Prefix: "/mes/", Upstream: MESOperator, Roles: []string{RoleOperator, RoleAdmin}},
		{Prefix: "/api/", Upstream: MESAPI, Strip: "/api"},
		{Prefix: "/b2b/", Upstream: MESAPI, Roles: []string{RoleAdmin}}, // mes-api's pages for the API clients
		{Prefix: "/staff/login"},
		{Prefix: "/staff/logout"},
		{Prefix: "/staff/static/"},
		{Prefix: "/staff/", Roles: allStaff},
		{Prefix: "/staff/admin/", Roles: []string{RoleAdmin}},
	}
}

// Forbidden are the first path segments no public request may reach, on
// the gateway or on any upstream: the platform's operational and internal
// routes on every service port, and mes-calc's price administration.
func Forbidden() []string {
	return []string{"metrics", "healthz", "readyz", "admin", "pricing", "internal", "debug"}
}

// Errors of Resolve.
var (
	// ErrBadPath is a path that is not in canonical form: encoded slashes or
	// backslashes, dot segments, empty segments, control characters, a
	// decoded percent sign (double encoding). Answered 400.
	ErrBadPath = errors.New("path is not in canonical form")
	// ErrNotFound is a path with no public route. Answered 404.
	ErrNotFound = errors.New("no public route")
)

// Redirect is returned for a route prefix without its trailing slash
// ("/crm"): the caller answers with a redirect to Location.
type Redirect struct{ Location string }

func (r *Redirect) Error() string { return "redirect to " + r.Location }

// Match is a resolved request.
type Match struct {
	Route Route
	// Path is what the upstream is asked for (Strip removed); for the
	// gateway's own routes, the request path.
	Path string
}

// MaxPathLen bounds the paths accepted.
const MaxPathLen = 2048

// Resolver resolves paths against a table.
type Resolver struct {
	routes    []Route // longest prefix first
	prefixes  map[string]string
	forbidden []string
}

// NewResolver builds a resolver for table.
func NewResolver(table []Route) *Resolver {
	rs := slices.Clone(table)
	slices.SortStableFunc(rs, func(a, b Route) int { return len(b.Prefix) - len(a.Prefix) })
	pre := map[string]string{}
	for _, r := range rs {
		seg := firstSegment(r.Prefix)
		if seg != "" {
			pre[strings.ToLower(seg)] = seg
		}
	}
	return &Resolver{routes: rs, prefixes: pre, forbidden: Forbidden()}
}

// Resolve checks a request's decoded path and its escaped form (as the
// client sent it) and returns the route it goes to. Every path that is not
// canonical is refused rather than cleaned, so that what the gateway checks
// is exactly what the upstream receives.
func (rs *Resolver) Resolve(decoded, escaped string) (Match, error) {
	if err := Canonical(decoded, escaped); err != nil {
		return Match{}, err
	}
	if rs.forbiddenPath(decoded) {
		return Match{}, ErrNotFound
	}
	// Case tricks: "/CRM/" or "/Api/" must not slip past a staff prefix to
	// the shop, nor confuse a case-insensitive upstream.
	first := firstSegment(decoded)
	if want, ok := rs.prefixes[strings.ToLower(first)]; ok && want != first {
		return Match{}, ErrNotFound
	}
	for _, r := range rs.routes {
		if r.Prefix == decoded {
			return rs.match(r, decoded)
		}
		if strings.HasSuffix(r.Prefix, "/") {
			if strings.HasPrefix(decoded, r.Prefix) {
				return rs.match(r, decoded)
			}
			if r.Prefix != "/" && decoded == strings.TrimSuffix(r.Prefix, "/") {
				return Match{}, &Redirect{Location: r.Prefix}
			}
		}
	}
	return Match{}, ErrNotFound
}

func (rs *Resolver) match(r Route, p string) (Match, error) {
	up := p
	if r.Strip != "" {
		up = strings.TrimPrefix(p, r.Strip)
		if up == "" || up[0] != '/' {
			return Match{}, ErrNotFound
		}
		if rs.forbiddenPath(up) {
			return Match{}, ErrNotFound
		}
		if err := Canonical(up, up); err != nil {
			return Match{}, err
		}
	}
	return Match{Route: r, Path: up}, nil
}

// forbiddenPath tells whether a path's first segment names an internal
// route, ignoring case, anything after ";" and trailing dots or spaces
// (which some servers drop).
func (rs *Resolver) forbiddenPath(p string) bool {
	seg := strings.ToLower(firstSegment(p))
	if i := strings.IndexByte(seg, ';'); i >= 0 {
		seg = seg[:i]
	}
	seg = strings.TrimRight(seg, ". ")
	return slices.Contains(rs.forbidden, seg)
}

func firstSegment(p string) string {
	p = strings.TrimPrefix(p, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return p
}

// Canonical checks that a path is in the one form the gateway forwards:
// absolute, no empty, "." or ".." segments (also with ";params"), no
// backslash, control character or percent sign once decoded, and no
// encoded slash, backslash or NUL as sent.
func Canonical(decoded, escaped string) error {
	if decoded == "" || decoded[0] != '/' || len(decoded) > MaxPathLen || len(escaped) > 3*MaxPathLen {
		return ErrBadPath
	}
	for i := 0; i < len(decoded); i++ {
		c := decoded[i]
		if c < 0x20 || c == 0x7f || c == '\\' || c == '%' {
			return ErrBadPath
		}
	}
	if badEscape(escaped) || !cleanSegments(decoded) {
		return ErrBadPath
	}
	return nil
}

// badEscape tells whether a path as sent encodes a slash, a backslash, a
// NUL or a percent sign.
func badEscape(escaped string) bool {
	if strings.IndexByte(escaped, '%') < 0 {
		return false // nothing encoded (and no copy made)
	}
	low := strings.ToLower(escaped)
	for _, bad := range []string{"%2f", "%5c", "%00", "%25"} {
		if strings.Contains(low, bad) {
			return true
		}
	}
	return false
}

// cleanSegments tells whether an absolute path has no empty segment but
// the last, and no "." or ".." segment (also with ";params").
func cleanSegments(p string) bool {
	for rest := p[1:]; ; {
		s, after, more := strings.Cut(rest, "/")
		if s == "" && more {
			return false // "//"
		}
		if j := strings.IndexByte(s, ';'); j >= 0 {
			s = s[:j]
		}
		if s == "." || s == ".." {
			return false
		}
		if !more {
			return true
		}
		rest = after
	}
}
