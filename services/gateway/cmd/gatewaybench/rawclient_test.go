package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRawClientReadsEveryResponseShape sends a few requests in a row on one
// client against a real server answering in each framing the raw client
// must handle; the connection count shows when it was (and was not) kept.
func TestRawClientReadsEveryResponseShape(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") != "fabrika_staff=abc" || r.Header.Get("Accept") != "application/json" {
			http.Error(w, "headers: "+r.Header.Get("Cookie")+" "+r.Header.Get("Accept"), http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", "5")
			_, _ = w.Write([]byte("hello"))
		case "/chunked": // flushed twice: no Content-Length, chunked framing
			_, _ = w.Write([]byte(strings.Repeat("a", 100)))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte(strings.Repeat("b", 5000)))
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = w.Write([]byte("bye"))
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	var prev rawClient // the connection of the previous step
	defer prev.close()
	for _, tc := range []struct {
		path      string
		status    int
		wantConns int64 // connections opened so far
	}{
		{"/length", 200, 1},
		{"/chunked", 200, 1},
		{"/length", 200, 1},
		{"/close", 200, 1},
		{"/length", 200, 2}, // the server closed the last one
		{"/teapot", 418, 2},
	} {
		c, err := newRawClient(srv.URL+tc.path, &http.Cookie{Name: "fabrika_staff", Value: "abc"})
		if err != nil {
			t.Fatal(err)
		}
		// One client per path would dial every time; share the connection
		// of the previous step, as one client sending in a row does.
		c.conn, c.br = prev.conn, prev.br
		status, err := c.do()
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.path, status, tc.status)
		}
		if got := conns.Load(); got != tc.wantConns {
			t.Errorf("after %s: %d connections, want %d", tc.path, got, tc.wantConns)
		}
		prev.conn, prev.br = c.conn, c.br
	}
}

// TestRawClientRedialsAStaleConnection: a server that closes an idle
// connection costs a new connection, not an error.
func TestRawClientRedialsAStaleConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	c, err := newRawClient(srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if _, err := c.do(); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
	if status, err := c.do(); err != nil || status != 200 {
		t.Fatalf("after the server closed the connection: %d %v", status, err)
	}
}

func TestRawClientRefusesHTTPS(t *testing.T) {
	if _, err := newRawClient("https://example.com/", nil); err == nil {
		t.Fatal("https accepted")
	}
}
