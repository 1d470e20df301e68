package testenv

import (
	"context"
	"io"
	"io/fs"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Proxy forwards TCP connections from its own address on 127.0.0.1 to a
// target (a database or a broker) until it is cut: a test's way to take a
// dependency away from the code under test, and give it back, without
// stopping the server that other tests share.
type Proxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
	delay        time.Duration // before a new connection reaches the target
	paused       chan struct{} // closed by Resume; nil while bytes flow
}

// NewProxy starts a proxy to target (host:port), cut when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{target: target, addr: "127.0.0.1:0"}
	p.Restore(t)
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.Cut)
	return p
}

// Delay makes every new connection wait d before the proxy connects it to
// the target (0: at once): a server that is slow to take connections, as
// one that has just started on a loaded machine. Connections already
// through are not slowed.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Pause stops forwarding bytes, both ways, on every connection, without
// closing any: a stalled peer (a NATS node that hangs, a network that drops
// packets) rather than one that is gone. What is sent meanwhile waits in
// the proxy and the sockets' buffers, and goes through, in order, on Resume.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused == nil {
		p.paused = make(chan struct{})
	}
}

// Resume forwards again what Pause held, and what follows.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused != nil {
		close(p.paused)
		p.paused = nil
	}
}

// hold waits while the proxy is paused.
func (p *Proxy) hold() {
	p.mu.Lock()
	paused := p.paused
	p.mu.Unlock()
	if paused != nil {
		<-paused
	}
}

// Addr is the proxy's host:port, the same across cuts.
func (p *Proxy) Addr() string { return p.addr }

// Restore accepts connections again after a Cut.
func (p *Proxy) Restore(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("testenv: proxy: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			delay := p.delay
			p.mu.Unlock()
			go p.forward(c, delay)
		}
	}()
}

// Cut closes every connection through the proxy and refuses new ones
// until Restore. It ends a Pause.
func (p *Proxy) Cut() {
	p.Resume()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// forward connects an accepted connection to the target after delay.
func (p *Proxy) forward(c net.Conn, delay time.Duration) {
	if delay > 0 {
		time.Sleep(delay) // the slow server this proxy stands for, not synchronisation
	}
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, u)
	p.mu.Unlock()
	go func() { p.pipe(u, c); u.Close() }()
	go func() { p.pipe(c, u); c.Close() }()
}

// pipe copies src to dst until either fails, holding what it read while
// the proxy is paused.
func (p *Proxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.hold()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// DBBehindProxy opens a fresh PostgreSQL database with migrations twice:
// direct, for the test's own checks, and behind, through a Proxy, for the
// code under test, so that cutting the proxy is a database outage for that
// code alone. It skips the test when no PostgreSQL server is configured
// (SQLite has no outage of this kind).
func DBBehindProxy(t *testing.T, migrations fs.FS) (direct, behind *sqldb.DB, p *Proxy) {
	t.Helper()
	if !PostgresConfigured() {
		t.Skip("a database outage needs a PostgreSQL server (FABRIKA_TEST_POSTGRES)")
	}
	ctx := context.Background()
	dsn := DSNOn(t, sqldb.Postgres)
	direct, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("testenv: open: %v", err)
	}
	t.Cleanup(func() { direct.Close() })
	if err := direct.Migrate(ctx, migrations); err != nil {
		t.Fatalf("testenv: migrate: %v", err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("testenv: DSN: %v", err)
	}
	p = NewProxy(t, u.Host)
	u.Host = p.Addr()
	if behind, err = sqldb.Open(ctx, u.String()); err != nil {
		t.Fatalf("testenv: open through the proxy: %v", err)
	}
	t.Cleanup(func() { behind.Close() })
	return direct, behind, p
}
