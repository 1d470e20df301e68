package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// rawClient is one load-generating client of -client raw: a keep-alive
// HTTP/1.1 connection of its own, the same request bytes written on it
// each time and the response read on the same goroutine. net/http's client
// hands every request to a write goroutine and every response to a read
// goroutine of the connection; on a 2-vCPU machine whose cores the load
// generator shares with what it measures, those hand-offs cost the gateway
// and the upstream CPU time that a load generator on machines of its own
// would not take from them.
type rawClient struct {
	addr string
	req  []byte
	conn net.Conn
	br   *bufio.Reader
}

// newRawClient prepares a GET of u (plain http only) with the phase's
// headers: the same ones net/http's client sends, and the cookie.
func newRawClient(u string, cookie *http.Cookie) (*rawClient, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	if pu.Scheme != "http" {
		return nil, fmt.Errorf("raw client: %s: only http:// URLs", u)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gatewaybench\r\nAccept: application/json\r\nAccept-Encoding: gzip\r\n", pu.RequestURI(), pu.Host)
	if cookie != nil {
		fmt.Fprintf(&b, "Cookie: %s\r\n", cookie.String())
	}
	b.WriteString("\r\n")
	addr := pu.Host
	if pu.Port() == "" {
		addr = net.JoinHostPort(pu.Hostname(), "80")
	}
	return &rawClient{addr: addr, req: b.Bytes()}, nil
}

// do sends the request and reads the whole response, redialling once when
// a kept-alive connection turns out closed before any answer came.
func (c *rawClient) do() (status int, err error) {
	for attempt := 0; ; attempt++ {
		reused := c.conn != nil
		if !reused {
			conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
			if err != nil {
				return 0, err
			}
			c.conn, c.br = conn, bufio.NewReaderSize(conn, 4096)
		}
		_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
		status, keep, read, err := c.roundTrip()
		if err != nil || !keep {
			c.close()
		}
		if err != nil && reused && !read && attempt == 0 {
			continue // the server closed an idle connection: a new one
		}
		return status, err
	}
}

func (c *rawClient) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn, c.br = nil, nil
	}
}

// roundTrip writes the request and reads the response: status line,
// headers (Content-Length, chunked, Connection: close) and the body,
// discarded. read tells whether any byte of a response came.
func (c *rawClient) roundTrip() (status int, keep, read bool, err error) {
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, false, false, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, false, len(line) > 0, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, true, fmt.Errorf("raw client: bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, true, fmt.Errorf("raw client: bad status line %q", line)
	}
	keep = line[7] == '1'
	length, chunked := int64(-1), false
	for {
		h, err := c.br.ReadSlice('\n')
		if err != nil {
			return status, false, true, fmt.Errorf("raw client: headers: %w", err)
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return status, false, true, fmt.Errorf("raw client: bad header line %q", h)
		}
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "Content-Length"):
			if length, err = strconv.ParseInt(string(v), 10, 64); err != nil || length < 0 {
				return status, false, true, fmt.Errorf("raw client: bad Content-Length %q", v)
			}
		case asciiEqualFold(k, "Transfer-Encoding"):
			chunked = asciiEqualFold(v, "chunked")
		case asciiEqualFold(k, "Connection"):
			if asciiEqualFold(v, "close") {
				keep = false
			}
		}
	}
	switch {
	case chunked:
		err = discardChunked(c.br)
	case length >= 0:
		_, err = c.br.Discard(int(length))
	default: // the body runs to the end of the connection
		_, err = io.Copy(io.Discard, c.br)
		keep = false
	}
	if err != nil {
		return status, false, true, fmt.Errorf("raw client: body: %w", err)
	}
	return status, keep, true, nil
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		sz, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(sz), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q", sz)
		}
		if n == 0 {
			for { // trailers, then the empty line
				t, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n)); err != nil {
			return err
		}
		crlf, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(crlf, "\r\n")) != 0 {
			return errors.New("chunk not followed by CRLF")
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(s) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
