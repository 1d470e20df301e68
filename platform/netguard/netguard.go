// Package netguard keeps outbound requests that follow user-supplied URLs
// (webhooks) off the internal network (SSRF). The control is at dial time: a
// net.Dialer Control function sees the address actually being connected to,
// after DNS resolution, so a name rebound to 127.0.0.1 after registration, an
// obfuscated literal that some resolver turns into a private address, or a
// redirect to the metadata service is refused like a plain "127.0.0.1".
// Checking URLs when they are registered (CheckHost) is a courtesy that gives
// the client an early error; the dial is what protects.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is returned when a connection to an address that is not public
// is refused.
var ErrRefused = errors.New("netguard: address is not public")

// Guard decides which addresses may be dialled. The zero value refuses every
// address that is not public; that is the default of every service.
type Guard struct {
	// AllowPrivate turns the guard off: every address may be dialled. It is
	// for development only (FABRIKA_ALLOW_PRIVATE_WEBHOOKS=true), where a
	// receiver on localhost is the point.
	AllowPrivate bool
	// Allow lists prefixes that may be dialled although they are not public
	// (a partner reached over a VPN, a test receiver). Empty by default.
	Allow []netip.Prefix
}

// Allowed tells whether the guard lets a connection to addr through.
func (g Guard) Allowed(addr netip.Addr) bool {
	if g.AllowPrivate {
		return true
	}
	a := addr.Unmap().WithZone("")
	for _, p := range g.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return Public(addr)
}

// Control is a net.Dialer Control function: it refuses to connect to an
// address the guard does not allow. address is "ip:port" as dialled.
func (g Guard) Control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparseable address", ErrRefused)
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !g.Allowed(a) {
		return ErrRefused
	}
	return nil
}

// Dialer returns a dialer whose every connection passes the guard.
func (g Guard) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.Control}
}

// Transport returns an HTTP transport that dials through the guard and
// ignores proxies from the environment (a proxy would dial for us, unchecked).
func (g Guard) Transport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           g.Dialer(5 * time.Second).DialContext,
		MaxIdleConns:          64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
}

// nonPublic are the special-purpose ranges (RFC 6890 and successors) beyond
// what netip's predicates name.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("::/128"),          // unspecified
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo, ORCHID...)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("3fff::/20"),       // documentation
	netip.MustParsePrefix("5f00::/16"),       // segment routing
	netip.MustParsePrefix("fc00::/7"),        // unique local
	netip.MustParsePrefix("fec0::/10"),       // site local (deprecated)
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")   // well-known NAT64: the last 32 bits are IPv4
	nat64Loc  = netip.MustParsePrefix("64:ff9b:1::/48") // local-use NAT64: translator's choice
	sixToFour = netip.MustParsePrefix("2002::/16")      // 6to4: bits 16..48 are IPv4
)

// Public tells whether addr is a public unicast address: not loopback,
// private, link-local (169.254.169.254, the cloud metadata service, is
// link-local), carrier-grade NAT, unique-local, multicast, unspecified,
// documentation or reserved. IPv4-mapped IPv6 forms are judged as the IPv4
// address; NAT64 and 6to4 addresses by the IPv4 address they carry.
func Public(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() ||
		addr.IsInterfaceLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified() {
		return false
	}
	switch {
	case nat64.Contains(addr):
		b := addr.As16()
		return Public(netip.AddrFrom4([4]byte(b[12:16])))
	case nat64Loc.Contains(addr):
		return false
	case sixToFour.Contains(addr):
		b := addr.As16()
		return Public(netip.AddrFrom4([4]byte(b[2:6])))
	}
	for _, p := range nonPublic {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckHost is the courtesy check when a URL is registered: it refuses an IP
// literal the guard does not allow, an IPv4 address in one of the legacy
// forms some resolvers accept ("2130706433", "0x7f.1", "0177.0.0.1"), a name
// that is local by definition (localhost, *.internal, single labels...) and,
// when r is not nil, a name that resolves to an address the guard does not
// allow. It never replaces the dial-time check: DNS can change.
func (g Guard) CheckHost(ctx context.Context, r Resolver, host string) error {
	if g.AllowPrivate {
		return nil
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if a, err := netip.ParseAddr(host); err == nil {
		if !g.Allowed(a) {
			return ErrRefused
		}
		return nil
	}
	if a, ok := LegacyIPv4(host); ok {
		if !g.Allowed(a) {
			return ErrRefused
		}
		return fmt.Errorf("%w: write the address as a dotted quad", ErrRefused)
	}
	if LocalName(host) {
		return ErrRefused
	}
	if r == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("netguard: %s does not resolve", host)
	}
	for _, a := range addrs {
		if !g.Allowed(a) {
			return ErrRefused
		}
	}
	return nil
}

// LocalName tells whether a host name is local by definition: it resolves
// through search domains (a single label) or names a local or internal zone
// (localhost, *.local, *.internal such as metadata.google.internal, ...).
func LocalName(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !strings.Contains(host, ".") {
		return true
	}
	for _, s := range []string{"localhost", "local", "internal", "localdomain", "home.arpa", "lan", "intranet", "corp"} {
		if host == s || strings.HasSuffix(host, "."+s) {
			return true
		}
	}
	return false
}

// LegacyIPv4 parses the IPv4 forms of inet_aton that netip refuses: one to
// four parts, each decimal, octal (leading 0) or hex (0x), the last part
// filling the remaining bytes ("2130706433", "0x7f.1", "127.1").
func LegacyIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 || s == "" {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base, digits := 10, p
		switch {
		case len(p) > 2 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
		case p == "0x" || p == "0X":
			base, digits = 16, "0"
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*uint(i))
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*uint(5-len(vals))) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}
