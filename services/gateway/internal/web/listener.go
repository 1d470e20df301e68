package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/httpx"
)

// A request net/http's server cannot read (a bad request line, a malformed
// or oversized header, a bad length, an unknown transfer coding) is
// answered by the server itself, in plain text and without the gateway's
// headers: the handler never sees it. The connections of the plain-HTTP
// public listener turn that answer, and only it, into the gateway's own:
// problem+json with the security headers and a request id. Nothing of the
// request is logged or echoed; net/http's reasons are fixed texts.

// serverErrorHeaders follow the status line of every answer net/http's
// server writes on its own (net/http/server.go, conn.serve). A handler's
// answer never has them there: the server writes a handler's headers
// sorted, Connection before Content-Type, and adds Date.
const serverErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// serverError tells whether b is one of net/http's own refusals, and its
// status and the server's reason ("" when it gave none).
func serverError(b []byte) (status int, reason string, ok bool) {
	const proto = "HTTP/1.1 "
	if len(b) < len(proto)+3 || string(b[:len(proto)]) != proto {
		return 0, "", false
	}
	end := bytes.Index(b, []byte("\r\n"))
	if end < 0 || !bytes.HasPrefix(b[end:], []byte(serverErrorHeaders)) {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(b[len(proto) : len(proto)+3]))
	if err != nil || status < 400 {
		return 0, "", false
	}
	line := string(b[len(proto)+3 : end]) // " Bad Request: invalid header name"
	if _, r, found := strings.Cut(line, ": "); found {
		reason = r
	}
	return status, reason, true
}

// problemListener wraps the connections it accepts in problemConn.
type problemListener struct {
	net.Listener
	answer func(status int, reason string) []byte
}

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &problemConn{Conn: c, answer: l.answer}, nil
}

// problemConn replaces net/http's own refusals with answer's.
type problemConn struct {
	net.Conn
	answer func(status int, reason string) []byte
}

func (c *problemConn) Write(b []byte) (int, error) {
	if status, reason, ok := serverError(b); ok {
		if _, err := c.Conn.Write(c.answer(status, reason)); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// CloseWrite lets the server half-close after a 431, as on a bare TCP
// connection.
func (c *problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// unreadable renders the answer to a request the server could not read,
// counts and logs it (status and request id only).
func (s *Public) unreadable(status int, reason string) []byte {
	start := time.Now()
	detail := "the request could not be read"
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		detail = "the request headers are larger than " + strconv.Itoa(maxHeaderBytes) + " bytes"
	case http.StatusNotImplemented:
		detail = "unsupported transfer encoding"
	default:
		if reason != "" {
			detail += ": " + reason
		}
	}
	s.metrics.refused.WithLabelValues("unreadable").Inc()
	id := httpx.RequestID("")
	h := http.Header{}
	for k, v := range s.secHeaders {
		h[k] = v
	}
	h.Set(httpx.HeaderRequestID, id)
	h.Set("Content-Type", "application/problem+json")
	body, _ := json.Marshal(httpx.NewProblem(status, detail))
	body = append(body, '\n')
	res := &http.Response{StatusCode: status, ProtoMajor: 1, ProtoMinor: 1, Header: h, Close: true,
		ContentLength: int64(len(body)), Body: io.NopCloser(bytes.NewReader(body))}
	var b bytes.Buffer
	if err := res.Write(&b); err != nil {
		return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nConnection: close\r\n\r\n", status, http.StatusText(status))
	}
	httpx.LogRequest(context.Background(), s.log, "", "", status, len(body), start, id)
	return b.Bytes()
}
