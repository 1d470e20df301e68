package upstream_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fabrika/fabrika/services/gateway/internal/upstream"
)

// countingServer is a real HTTP server that counts the connections it
// accepted.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// fallbackCounter is the fallback transport, counting what it was given.
type fallbackCounter struct {
	n  atomic.Int64
	rt http.RoundTripper
}

func (f *fallbackCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	f.n.Add(1)
	return f.rt.RoundTrip(r)
}

func newTransport(t *testing.T, cfg upstream.Config) (*upstream.Transport, *fallbackCounter) {
	t.Helper()
	fb := &fallbackCounter{rt: &http.Transport{}}
	tr := upstream.New(cfg, fb)
	t.Cleanup(tr.CloseIdleConnections)
	return tr, fb
}

func get(t *testing.T, tr http.RoundTripper, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	res.Body.Close()
	return res, string(b)
}

// TestFramingsReuseTheConnection: every way a response can end its body
// (length, chunks, no body) leaves the connection in step for the next
// request, which reuses it; a response that ends with the connection does
// not.
func TestFramingsReuseTheConnection(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789", 10000) // larger than the buffers
	tests := []struct {
		name     string
		method   string
		handler  http.HandlerFunc
		want     string
		wantCode int
		conns    int64 // connections after 5 requests
	}{
		{"content length", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}, "hello", 200, 1},
		{"chunked", "GET", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hel")
			w.(http.Flusher).Flush()
			io.WriteString(w, big)
		}, "hel" + big, 200, 1},
		{"head", "HEAD", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "12345")
		}, "", 200, 1},
		{"no content", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}, "", 204, 1},
		{"not modified", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotModified)
		}, "", 304, 1},
		{"empty 200", "GET", func(w http.ResponseWriter, r *http.Request) {}, "", 200, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, conns := countingServer(t, tc.handler)
			tr, fb := newTransport(t, upstream.Config{})
			for i := range 5 {
				res, body := get(t, tr, tc.method, srv.URL+"/x")
				if res.StatusCode != tc.wantCode || body != tc.want {
					t.Fatalf("request %d: %d %.40q, want %d %.40q", i, res.StatusCode, body, tc.wantCode, tc.want)
				}
			}
			if got := conns.Load(); got != tc.conns {
				t.Errorf("connections: %d, want %d", got, tc.conns)
			}
			if fb.n.Load() != 0 {
				t.Errorf("the fallback was used %d times", fb.n.Load())
			}
		})
	}
}

// TestOthersGoToTheFallback: bodies, other methods, upgrades and TLS
// upstreams are not this transport's.
func TestOthersGoToTheFallback(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	}))
	tr, fb := newTransport(t, upstream.Config{})
	for _, tc := range []struct {
		method, body string
		header       string
	}{
		{"POST", "a=1", ""},
		{"POST", "", ""},
		{"PUT", "x", ""},
		{"DELETE", "", ""},
		{"GET", "a body on a GET", ""},
		{"GET", "", "websocket"},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		req, _ := http.NewRequest(tc.method, srv.URL, body)
		if tc.header != "" {
			req.Header.Set("Upgrade", tc.header)
		}
		if upstream.Direct(req) {
			t.Errorf("%s with body %q, upgrade %q: sent directly", tc.method, tc.body, tc.header)
		}
		before := fb.n.Load()
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if fb.n.Load() != before+1 || string(b) != tc.method+" "+tc.body {
			t.Errorf("%s %q: fallback %d->%d, answer %q", tc.method, tc.body, before, fb.n.Load(), b)
		}
	}
	req, _ := http.NewRequest("GET", "https://127.0.0.1:1/", nil)
	if upstream.Direct(req) {
		t.Error("an https request is sent directly")
	}
}

// rawServer answers each connection with serve, on a real TCP listener.
func rawServer(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Go(func() {
				defer c.Close()
				serve(c, bufio.NewReader(c))
			})
		}
	})
	return "http://" + ln.Addr().String(), &conns
}

// readRequest reads one request's head; false when the connection ended.
func readRequest(br *bufio.Reader) bool {
	req, err := http.ReadRequest(br)
	if err != nil {
		return false
	}
	req.Body.Close()
	return true
}

// TestStaleConnectionIsRetried: an upstream that closes a kept-alive
// connection while it is idle (without saying so) costs nothing: the
// request goes again on a new connection.
func TestStaleConnectionIsRetried(t *testing.T) {
	t.Parallel()
	url, conns := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		if readRequest(br) { // one answer, then the connection ends
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr, _ := newTransport(t, upstream.Config{})
	for i := range 4 {
		if res, body := get(t, tr, "GET", url); res.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, res.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond) // the close reaches this side
	}
	if got := conns.Load(); got != 4 {
		t.Errorf("connections: %d, want 4", got)
	}
}

// TestBrokenResponsesAreErrors: what is not HTTP, or ends half-way, is an
// error (the proxy answers 502), never a response.
func TestBrokenResponsesAreErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, answer string
	}{
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n"},
		{"nothing", ""},
		{"headers cut", "HTTP/1.1 200 OK\r\nContent-Le"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
				if readRequest(br) {
					io.WriteString(c, tc.answer)
				}
			})
			tr, _ := newTransport(t, upstream.Config{})
			req, _ := http.NewRequest("GET", url, nil)
			if res, err := tr.RoundTrip(req); err == nil {
				res.Body.Close()
				t.Fatalf("answer %q: status %d, want an error", tc.answer, res.StatusCode)
			}
		})
	}
	t.Run("body cut", func(t *testing.T) {
		t.Parallel()
		url, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
			if readRequest(br) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
			}
		})
		tr, _ := newTransport(t, upstream.Config{})
		req, _ := http.NewRequest("GET", url, nil)
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if b, err := io.ReadAll(res.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("body %q, error %v; want io.ErrUnexpectedEOF", b, err)
		}
	})
}

// TestOutOfStepConnectionIsNotReused: bytes after the response (an
// upstream that wrote more than it announced) close the connection rather
// than being read as the next response; an early hint before the answer is
// skipped.
func TestOutOfStepConnectionIsNotReused(t *testing.T) {
	t.Parallel()
	url, conns := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		for readRequest(br) {
			io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"+
				"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nforged")
		}
	})
	tr, _ := newTransport(t, upstream.Config{})
	for i := range 3 {
		if res, body := get(t, tr, "GET", url); res.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, res.StatusCode, body)
		}
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("connections: %d, want 3", got)
	}
}

// TestConnectionCloseIsHonoured: after a response that says
// "Connection: close", or whose body ends with the connection, nothing more
// is sent on it, even if the upstream keeps it open.
func TestConnectionCloseIsHonoured(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, first string }{
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nfirst"},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nfirst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, conns := rawServer(t, func(c net.Conn, br *bufio.Reader) {
				answer := tc.first
				for readRequest(br) {
					io.WriteString(c, answer)
					answer = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"
				}
			})
			tr, _ := newTransport(t, upstream.Config{})
			for i := range 3 {
				if res, body := get(t, tr, "GET", url); body != "first" {
					t.Fatalf("request %d: %d %q, want the first answer of a new connection", i, res.StatusCode, body)
				}
			}
			if got := conns.Load(); got != 3 {
				t.Errorf("connections: %d, want 3", got)
			}
		})
	}
}

// TestBodyNotReadToTheEndClosesTheConnection: a body closed early cannot
// leave its rest to be read as the next response.
func TestBodyNotReadToTheEndClosesTheConnection(t *testing.T) {
	t.Parallel()
	// The first part of the body arrives alone, so that the connection's
	// buffer is empty when the body is closed: the rest is still to come.
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first part")
		w.(http.Flusher).Flush()
		time.Sleep(30 * time.Millisecond)
		io.WriteString(w, strings.Repeat("x", 100000))
	}))
	tr, _ := newTransport(t, upstream.Config{})
	for i := range 3 {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b := make([]byte, 100)
		if n, err := res.Body.Read(b); err != nil || string(b[:n]) != "first part" {
			t.Fatalf("read %q, %v", b[:n], err)
		}
		res.Body.Close()
		if _, err := res.Body.Read(b); err == nil {
			t.Fatal("read after close succeeded")
		}
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("connections: %d, want 3", got)
	}
}

// TestTimeoutsAndCancellation: an upstream that does not answer in time is
// a timeout error (504 at the proxy); a caller that goes away unblocks the
// request at once, while waiting for headers and while reading the body.
func TestTimeoutsAndCancellation(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	url, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if req.URL.Path == "/half" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
		}
		<-release
	})
	t.Cleanup(func() { close(release) }) // before the server's clean-up waits for its handlers

	t.Run("response header timeout", func(t *testing.T) {
		t.Parallel()
		tr, _ := newTransport(t, upstream.Config{ResponseHeaderTimeout: 100 * time.Millisecond})
		req, _ := http.NewRequest("GET", url+"/slow", nil)
		start := time.Now()
		_, err := tr.RoundTrip(req)
		var nerr net.Error
		if !errors.As(err, &nerr) || !nerr.Timeout() {
			t.Fatalf("error %v, want a timeout", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("canceled while waiting", func(t *testing.T) {
		t.Parallel()
		tr, _ := newTransport(t, upstream.Config{})
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, "GET", url+"/slow", nil)
		time.AfterFunc(50*time.Millisecond, cancel)
		if _, err := tr.RoundTrip(req); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
	t.Run("canceled while reading the body", func(t *testing.T) {
		t.Parallel()
		tr, _ := newTransport(t, upstream.Config{ResponseHeaderTimeout: time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, "GET", url+"/half", nil)
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		time.AfterFunc(50*time.Millisecond, cancel)
		if _, err := io.ReadAll(res.Body); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		tr, _ := newTransport(t, upstream.Config{})
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", url+"/slow", nil)
		if _, err := tr.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("nothing listens", func(t *testing.T) {
		t.Parallel()
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		tr, _ := newTransport(t, upstream.Config{})
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		if _, err := tr.RoundTrip(req); err == nil {
			t.Fatal("no error")
		}
	})
}

// TestIdleConnectionsAreBounded: connections idle longer than IdleTimeout
// are not used again, and no more than MaxIdlePerHost are kept.
func TestIdleConnectionsAreBounded(t *testing.T) {
	t.Parallel()
	var open atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // so that concurrent requests need connections of their own
		io.WriteString(w, "ok")
	}))
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			conns.Add(1)
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	tr, _ := newTransport(t, upstream.Config{MaxIdlePerHost: 2, IdleTimeout: 300 * time.Millisecond})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() { get(t, tr, "GET", srv.URL) })
	}
	wg.Wait()
	if c := conns.Load(); c != 6 {
		t.Fatalf("connections for 6 concurrent requests: %d", c)
	}
	waitFor(t, func() bool { return open.Load() == 2 }, "2 connections kept idle")
	time.Sleep(400 * time.Millisecond)
	get(t, tr, "GET", srv.URL) // both idle ones are too old: a new one
	if c := conns.Load(); c != 7 {
		t.Errorf("connections after the idle timeout: %d, want 7", c)
	}
	waitFor(t, func() bool { return open.Load() == 1 }, "the stale connections closed")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConcurrentRequests: many goroutines share the pool; every answer is
// the one asked for.
func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Query().Get("n"))
	}))
	tr, _ := newTransport(t, upstream.Config{})
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 100 {
				want := fmt.Sprintf("%d-%d", g, i)
				req, _ := http.NewRequest("GET", srv.URL+"/?n="+want, nil)
				res, err := tr.RoundTrip(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || string(b) != want {
					t.Errorf("got %q (%v), want %q", b, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if c := conns.Load(); c > 32 {
		t.Errorf("%d connections for 32 goroutines", c)
	}
}
