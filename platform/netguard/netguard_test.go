package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/fabrika/fabrika/platform/netguard"
)

func TestPublic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"::1", false}, {"::ffff:127.0.0.1", false},
		{"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false}, {"::ffff:10.0.0.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"100.64.0.1", false}, {"fc00::1", false}, {"fd12:3456::1", false},
		{"224.0.0.1", false}, {"ff02::1", false}, {"0.0.0.0", false}, {"::", false}, {"255.255.255.255", false},
		{"64:ff9b::a00:1", false}, {"64:ff9b::7f00:1", false}, {"64:ff9b::a9fe:a9fe", false}, {"2002:7f00:1::", false},
		{"2001::1", false}, {"2001:db8::1", false}, {"fe80::1%eth0", false}, {"64:ff9b:1::1", false},
		{"8.8.8.8", true}, {"1.1.1.1", true}, {"2606:4700::1111", true}, {"64:ff9b::808:808", true}, {"::ffff:8.8.8.8", true},
	} {
		if got := netguard.Public(netip.MustParseAddr(tc.addr)); got != tc.public {
			t.Errorf("Public(%s) = %v, want %v", tc.addr, got, tc.public)
		}
	}
}

func TestLegacyIPv4(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"2130706433": "127.0.0.1", "0x7f.1": "127.0.0.1", "0x7f000001": "127.0.0.1", "0177.0.0.1": "127.0.0.1",
		"127.1": "127.0.0.1", "10.0.1": "10.0.0.1", "0xa9.0xfe.0xa9.0xfe": "169.254.169.254", "1.2.3.4": "1.2.3.4",
	} {
		a, ok := netguard.LegacyIPv4(in)
		if !ok || a.String() != want {
			t.Errorf("LegacyIPv4(%q) = %v %v, want %s", in, a, ok, want)
		}
	}
	for _, in := range []string{"example.com", "1.2.3.4.5", "256.1.1.1", "1.16777216", "0x", "08.1.1.1", ""} {
		if a, ok := netguard.LegacyIPv4(in); ok && in != "0x" {
			t.Errorf("LegacyIPv4(%q) = %v, want no address", in, a)
		}
	}
}

// dnsServer answers A and AAAA queries from a table, like a resolver an
// attacker controls (the answer can change between registration and dial).
func dnsServer(t *testing.T, answers map[string]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			a, ok := answers[strings.TrimSuffix(q.Name.String(), ".")]
			rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}
			switch {
			case ok && q.Type == dnsmessage.TypeA && a.Is4():
				_ = b.AResource(rh, dnsmessage.AResource{A: a.As4()})
			case ok && q.Type == dnsmessage.TypeAAAA && a.Is6():
				_ = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
			}
			msg, err := b.Finish()
			if err == nil {
				_, _ = pc.WriteTo(msg, from)
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

// TestDialRefusesEveryForm dials a live listener (on loopback) by each form
// an attacker could write its address in, and a name resolved by an
// attacker's DNS to internal addresses: every dial is refused by Control,
// and the listener sees no connection.
func TestDialRefusesEveryForm(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := dnsServer(t, map[string]netip.Addr{
		"rebound.example.com":      netip.MustParseAddr("127.0.0.1"),
		"metadata.google.internal": netip.MustParseAddr("169.254.169.254"),
		"mapped.example.com":       netip.MustParseAddr("::ffff:127.0.0.1"),
		"v6.example.com":           netip.MustParseAddr("::1"),
		"private.example.com":      netip.MustParseAddr("10.0.0.1"),
	})
	var g netguard.Guard
	d := g.Dialer(time.Second)
	d.Resolver = res
	for _, host := range []string{
		"127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "localhost", "0.0.0.0", "[::]",
		"169.254.169.254", "10.0.0.1", "100.64.0.1", "[fd00::1]", "[fe80::1]", "224.0.0.1", "[64:ff9b::7f00:1]",
		"rebound.example.com", "metadata.google.internal", "mapped.example.com", "v6.example.com", "private.example.com",
	} {
		t.Run(host, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(strings.Trim(host, "[]"), port))
			if err == nil {
				c.Close()
				t.Fatalf("dial %s: connected", host)
			}
			if !errors.Is(err, netguard.ErrRefused) {
				t.Fatalf("dial %s: %v, want ErrRefused", host, err)
			}
		})
	}
	// The obfuscated literals are names to Go's resolver; a C resolver turns
	// them into 127.0.0.1, which Control refuses like any other.
	for _, host := range []string{"2130706433", "0x7f.1", "0177.0.0.1"} {
		if err := g.CheckHost(context.Background(), res, host); !errors.Is(err, netguard.ErrRefused) {
			t.Errorf("CheckHost(%s) = %v, want ErrRefused", host, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the internal listener was reached %d times", n)
	}
	// The same listener with the guard off (development) is reached.
	c, err := netguard.Guard{AllowPrivate: true}.Dialer(time.Second).Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("dial with AllowPrivate: %v", err)
	}
	c.Close()
}

// TestRedirectToLoopbackRefused: a receiver the guard allows answers with a
// redirect to loopback; the client that follows it is refused at the dial.
func TestRedirectToLoopbackRefused(t *testing.T) {
	t.Parallel()
	var internalHits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { internalHits.Add(1) }))
	t.Cleanup(internal.Close)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	outside := httptest.NewUnstartedServer(http.RedirectHandler(internal.URL+"/admin/outbox/all/retry", http.StatusTemporaryRedirect))
	outside.Listener = ln
	outside.Start()
	t.Cleanup(outside.Close)
	// 127.0.0.2 plays a public receiver.
	g := netguard.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	client := &http.Client{Transport: g.Transport(5 * time.Second), Timeout: 5 * time.Second}
	resp, err := client.Post(outside.URL, "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("redirect to loopback followed: %s", resp.Status)
	}
	if !errors.Is(err, netguard.ErrRefused) {
		t.Fatalf("redirect: %v, want ErrRefused", err)
	}
	if n := internalHits.Load(); n != 0 {
		t.Fatalf("the internal listener was reached %d times", n)
	}
}

func TestCheckHost(t *testing.T) {
	t.Parallel()
	res := dnsServer(t, map[string]netip.Addr{"public.example.com": netip.MustParseAddr("8.8.8.8"), "evil.example.com": netip.MustParseAddr("10.1.1.1")})
	var g netguard.Guard
	for host, ok := range map[string]bool{
		"public.example.com": true, "8.8.8.8": true, "evil.example.com": false, "nowhere.example.com": false,
		"localhost": false, "api.localhost": false, "metadata.google.internal": false, "intranet": false, "printer.local": false,
		"127.0.0.1": false, "[::1]": false, "0x7f.1": false, "8.8.2056": false,
	} {
		err := g.CheckHost(context.Background(), res, host)
		if (err == nil) != ok {
			t.Errorf("CheckHost(%s) = %v, want ok=%v", host, err, ok)
		}
	}
	if err := (netguard.Guard{AllowPrivate: true}).CheckHost(context.Background(), res, "127.0.0.1"); err != nil {
		t.Errorf("AllowPrivate: %v", err)
	}
}
