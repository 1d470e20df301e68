// Package upstream is the gateway's HTTP/1.1 transport to the services
// behind it. A request without a body (GET and HEAD over plain HTTP: nearly
// all of the gateway's traffic) is written and its response read on the
// caller's own goroutine, over a pooled keep-alive connection. net/http's
// Transport instead hands every request to a writing goroutine and every
// response back from a reading goroutine of the connection, through
// channels and selects: two goroutine wake-ups and their scheduling per
// request, a fifth of the gateway's CPU under load (docs/BENCHMARKS.md,
// "gateway"). Everything else — request bodies, protocol upgrades, TLS
// upstreams — goes to the fallback transport, which can read a response
// while it still writes the request.
package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Config tunes the transport; zero values take the defaults.
type Config struct {
	// Dial opens a connection to an upstream (default: a net.Dialer with a
	// 5 s timeout).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ResponseHeaderTimeout bounds the wait for a response's headers after
	// the request is written (default: none).
	ResponseHeaderTimeout time.Duration
	// IdleTimeout is how long an idle connection may be reused (default
	// 50 s: under the services' own idle timeout, so that the gateway
	// lets a connection go before the service closes it).
	IdleTimeout time.Duration
	// MaxIdlePerHost bounds the idle connections kept for one upstream
	// (default 256).
	MaxIdlePerHost int
}

// Transport is an http.RoundTripper; see the package comment.
type Transport struct {
	cfg      Config
	fallback http.RoundTripper
	now      func() time.Time

	mu   sync.Mutex
	idle map[string][]*conn // per host:port, oldest first; taken from the end
}

// New returns a transport that sends bodiless GET and HEAD requests itself
// and every other request through fallback.
func New(cfg Config, fallback http.RoundTripper) *Transport {
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 50 * time.Second
	}
	if cfg.MaxIdlePerHost <= 0 {
		cfg.MaxIdlePerHost = 256
	}
	return &Transport{cfg: cfg, fallback: fallback, now: time.Now, idle: map[string][]*conn{}}
}

// conn is one keep-alive connection to an upstream.
type conn struct {
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	addr      string
	idleSince time.Time
}

// Direct tells whether t sends req itself rather than through the fallback:
// a GET or HEAD over plain HTTP with no body, no trailer and no protocol
// upgrade.
func Direct(req *http.Request) bool {
	return (req.Method == http.MethodGet || req.Method == http.MethodHead) &&
		req.URL.Scheme == "http" &&
		(req.Body == nil || req.Body == http.NoBody) && req.ContentLength == 0 &&
		len(req.Trailer) == 0 && len(req.Header["Upgrade"]) == 0
}

// errNothingRead marks a failure on a connection before any byte of the
// response arrived: on a reused connection, the upstream closed it while it
// was idle, and the request can be sent again on a new one.
type errNothingRead struct{ err error }

func (e errNothingRead) Error() string { return e.err.Error() }
func (e errNothingRead) Unwrap() error { return e.err }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !Direct(req) {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	addr := canonicalAddr(req)
	for attempt := 0; ; attempt++ {
		var c *conn
		reused := false
		if attempt == 0 { // a second attempt goes on a new connection
			c, reused = t.take(addr)
		}
		if c == nil {
			var err error
			if c, err = t.dial(ctx, addr); err != nil {
				return nil, err
			}
		}
		res, err := t.send(ctx, c, req)
		if err == nil {
			return res, nil
		}
		c.nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A GET or HEAD without a body is safe to send again, and the
		// upstream never saw it or never answered.
		var nothing errNothingRead
		if reused && attempt == 0 && errors.As(err, &nothing) {
			continue
		}
		return nil, err
	}
}

// aLongTimeAgo is a deadline in the past: it unblocks a read or write at
// once.
var aLongTimeAgo = time.Unix(1, 0)

// send writes req on c and reads the response's headers; the body is read
// by the caller, and c goes back to the pool when it reaches the end.
func (t *Transport) send(ctx context.Context, c *conn, req *http.Request) (*http.Response, error) {
	// The caller going away (the client closed its connection, a deadline)
	// unblocks whatever this connection is doing.
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		return nil, err
	}
	if err := req.Write(c.bw); err != nil {
		return fail(errNothingRead{fmt.Errorf("upstream %s: write request: %w", c.addr, err)})
	}
	if err := c.bw.Flush(); err != nil {
		return fail(errNothingRead{fmt.Errorf("upstream %s: write request: %w", c.addr, err)})
	}
	if t.cfg.ResponseHeaderTimeout > 0 {
		_ = c.nc.SetReadDeadline(t.now().Add(t.cfg.ResponseHeaderTimeout))
	}
	if _, err := c.br.Peek(1); err != nil {
		return fail(errNothingRead{fmt.Errorf("upstream %s: read response: %w", c.addr, err)})
	}
	res, err := http.ReadResponse(c.br, req)
	// Informational answers (103 Early Hints) precede the real one; a 101
	// cannot come, as no upgrade was asked for.
	for err == nil && res.StatusCode >= 100 && res.StatusCode < 200 {
		res, err = http.ReadResponse(c.br, req)
	}
	if err != nil {
		return fail(fmt.Errorf("upstream %s: read response: %w", c.addr, err))
	}
	if t.cfg.ResponseHeaderTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
		if ctx.Err() != nil { // canceled before the deadline was cleared: stay unblocked
			return fail(ctx.Err())
		}
	}
	keep := !res.Close && (res.ContentLength >= 0 || chunked(res.TransferEncoding))
	if res.Body == http.NoBody {
		t.release(c, stop, keep)
		return res, nil
	}
	res.Body = &body{rc: res.Body, t: t, c: c, ctx: ctx, stop: stop, keep: keep}
	return res, nil
}

func chunked(te []string) bool { return len(te) > 0 && te[0] == "chunked" }

// release ends a request on c: back to the pool when its response was read
// to the end on a connection that stays open, closed otherwise.
func (t *Transport) release(c *conn, stop func() bool, reuse bool) {
	// stop is false when the caller's context ended and set a deadline in
	// the past on the connection.
	if !stop() || !reuse || c.br.Buffered() > 0 { // bytes nobody asked for: out of step
		c.nc.Close()
		return
	}
	t.put(c)
}

// body is a response body that gives its connection back at the end.
type body struct {
	rc   io.ReadCloser
	t    *Transport
	c    *conn
	ctx  context.Context
	stop func() bool
	keep bool
	done bool
	err  error // what Read returns once done
}

var errClosed = errors.New("upstream: read on a closed response body")

func (b *body) Read(p []byte) (int, error) {
	if b.done {
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true, io.EOF)
	case err != nil:
		if b.ctx.Err() != nil {
			err = b.ctx.Err()
		}
		b.finish(false, err)
	}
	return n, err
}

// Close gives the connection back if the body was read to the end, and
// closes it otherwise: what is left of the response is not worth reading.
func (b *body) Close() error {
	if !b.done {
		b.finish(false, errClosed)
	}
	return nil
}

func (b *body) finish(reuse bool, err error) {
	b.done, b.err = true, err
	b.t.release(b.c, b.stop, reuse && b.keep)
}

// take returns an idle connection to addr, or nil; reused is true when it
// has served a request before.
func (t *Transport) take(addr string) (c *conn, reused bool) {
	now := t.now()
	var stale []*conn
	t.mu.Lock()
	list := t.idle[addr]
	for len(list) > 0 && c == nil {
		last := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		if now.Sub(last.idleSince) < t.cfg.IdleTimeout {
			c = last
		} else {
			stale = append(stale, last)
		}
	}
	t.idle[addr] = list
	t.mu.Unlock()
	for _, s := range stale {
		s.nc.Close()
	}
	return c, c != nil
}

// put keeps c for the next request to its upstream, and lets go of the
// connections idle too long (the oldest are first) or too many.
func (t *Transport) put(c *conn) {
	now := t.now()
	c.idleSince = now
	var drop []*conn
	t.mu.Lock()
	list := append(t.idle[c.addr], c)
	n := 0
	for n < len(list)-1 && (now.Sub(list[n].idleSince) >= t.cfg.IdleTimeout || len(list)-n > t.cfg.MaxIdlePerHost) {
		n++
	}
	if n > 0 {
		drop = append(drop, list[:n]...)
		list = append(list[:0], list[n:]...)
		clear(list[len(list):cap(list)])
	}
	t.idle[c.addr] = list
	t.mu.Unlock()
	for _, d := range drop {
		d.nc.Close()
	}
}

func (t *Transport) dial(ctx context.Context, addr string) (*conn, error) {
	nc, err := t.cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", addr, err)
	}
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, 4<<10), bw: bufio.NewWriterSize(nc, 4<<10), addr: addr}, nil
}

// CloseIdleConnections closes the idle connections of this transport and
// of its fallback.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*conn{}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
	if ci, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// canonicalAddr is the request's host:port, port 80 when none is given.
func canonicalAddr(req *http.Request) string {
	if req.URL.Port() != "" {
		return req.URL.Host
	}
	return net.JoinHostPort(req.URL.Hostname(), "80")
}
