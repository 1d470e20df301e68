package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// MaxURLLength bounds an endpoint URL.
const MaxURLLength = 2048

// ValidateURL checks an endpoint URL's syntax as it is registered: absolute
// http(s), a host, no credentials, no fragment. Which addresses it may reach
// is platform/netguard's business (at registration and at every dial).
func ValidateURL(raw string) (*url.URL, error) {
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
		return u, nil
	}
	if !validHostname(host) {
		return nil, fmt.Errorf("url host %q is not a valid name", u.Hostname())
	}
	return u, nil
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
