package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// MaxURLLength bounds an endpoint URL.
const MaxURLLength = 2048

// ErrForbiddenAddress is returned for an address a webhook may not reach in
// production: loopback, private, link-local, unspecified, multicast and the
// other special-purpose ranges.
var ErrForbiddenAddress = errors.New("webhook address is not public")

// ValidateURL checks an endpoint URL as it is registered: absolute http(s),
// a host, no credentials, no fragment. In production an IP literal or a
// name that is local by definition (localhost, *.localhost, *.local,
// *.internal) is refused; names are resolved and checked again when
// registered and on every connection (see Control).
func ValidateURL(raw string, production bool) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("url is required")
	}
	if len(raw) > MaxURLLength {
		return nil, fmt.Errorf("url is longer than %d characters", MaxURLLength)
	}
	if strings.ContainsAny(raw, " \t\r\n\\") {
		return nil, errors.New("url contains spaces or backslashes")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("url does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url scheme must be http or https, not %q", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("url must be absolute with a host")
	}
	if u.User != nil {
		return nil, errors.New("url must not carry credentials")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("url must not have a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := netip.ParseAddrPort("0.0.0.0:" + p); err != nil || n.Port() == 0 {
			return nil, fmt.Errorf("url port %q is not valid", p)
		}
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Zone() != "" {
			return nil, errors.New("url must not carry an IPv6 zone")
		}
		if production && !PublicAddr(addr) {
			return nil, fmt.Errorf("%w: %s", ErrForbiddenAddress, addr)
		}
		return u, nil
	}
	if !validHostname(host) {
		return nil, fmt.Errorf("url host %q is not a valid name", u.Hostname())
	}
	if production && localName(host) {
		return nil, fmt.Errorf("%w: %s", ErrForbiddenAddress, host)
	}
	return u, nil
}

func localName(host string) bool {
	if !strings.Contains(host, ".") {
		return true // single-label names resolve through local search domains
	}
	for _, s := range []string{"localhost", ".localhost", ".local", ".internal", ".localdomain", ".home.arpa"} {
		if host == strings.TrimPrefix(s, ".") || strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

var specialPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64 can reach IPv4 private space
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"), // documentation
	netip.MustParsePrefix("2002::/16"),     // 6to4 embeds any IPv4
	netip.MustParsePrefix("2001::/32"),     // Teredo
}

// PublicAddr tells whether a webhook may connect to addr in production.
func PublicAddr(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
		addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified() {
		return false
	}
	for _, p := range specialPrefixes {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// Control is a net.Dialer Control function that refuses to connect to any
// address that is not public: it runs after DNS resolution, on the address
// actually dialled, so a name that resolves to 127.0.0.1 (or is rebound to
// it after registration) is refused too.
func Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		host, _, serr := net.SplitHostPort(address)
		if serr != nil {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
		}
		a, perr := netip.ParseAddr(host)
		if perr != nil {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	if !PublicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}
