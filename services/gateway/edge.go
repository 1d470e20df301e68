package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway/internal/header"
	"github.com/fabrika/fabrika/services/gateway/internal/staff"
)

// edge serves the plain-HTTP public listener with fasthttp. net/http's
// server and ReverseProxy cost a proxied request about 70 µs of CPU on the
// project's machine, fasthttp about 30 (docs/BENCHMARKS.md, section
// "gateway"): the difference decides the gateway's added latency under
// load.
//
// Only the common case takes the fast path: a GET or HEAD without a body
// or an upgrade, whose path the route table accepts as it stands, to a
// plain-HTTP upstream, anonymous or with a live staff session of an
// allowed role. Every other request (bodies, refused paths, redirects,
// missing sessions, wrong roles, the gateway's own pages) goes, unchanged,
// to the same net/http handler as over TLS, through fasthttpadaptor: every
// refusal is decided in one place. The fast path takes its decisions with
// the same functions (route.Resolver on Go's own parse of the request
// target, staff.Service.Session, header's scrubbing predicates, the security
// headers), working on fasthttp's headers without copying them.
type edge struct {
	s       *Service
	slow    fasthttp.RequestHandler
	tracer  trace.Tracer
	clients map[string]*fasthttp.HostClient // by upstream name; plain-HTTP upstreams only

	secHeaders [][2][]byte // the security headers, canonical names
}

func (s *Service) newEdge() *edge {
	e := &edge{s: s, slow: fasthttpadaptor.NewFastHTTPHandler(detached(s.PublicHandler())),
		tracer: httpx.Tracer(s.h.TP), clients: map[string]*fasthttp.HostClient{}}
	for k, v := range s.secHeaders {
		e.secHeaders = append(e.secHeaders, [2][]byte{[]byte(k), []byte(v[0])})
	}
	for name, u := range s.upstreams {
		if u.Scheme != "http" {
			continue
		}
		addr := u.Host
		if u.Port() == "" {
			addr += ":80"
		}
		e.clients[name] = &fasthttp.HostClient{
			Addr:                          addr,
			Dial:                          func(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, s.cfg.DialTimeout) },
			MaxConns:                      1024,
			MaxIdleConnDuration:           50 * time.Second,
			MaxConnWaitTimeout:            s.cfg.UpstreamTimeout,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true, // names go as the edge's server normalised them
			DisablePathNormalizing:        true, // the path is the one route.Resolve checked
			StreamResponseBody:            true, // large answers flow through, as with net/http
			RetryIfErr: func(req *fasthttp.Request, attempts int, err error) (bool, bool) {
				// A pooled connection the upstream closed while idle: the
				// request is a GET or HEAD without a body, safe to send again.
				return attempts < 2, false
			},
		}
	}
	return e
}

// serveEdge serves plain HTTP on ln with the edge until ctx ends.
func (s *Service) serveEdge(ctx context.Context, ln net.Listener) error {
	e := s.newEdge()
	srv := &fasthttp.Server{
		Handler:      e.serve,
		ErrorHandler: s.edgeError,
		// The headers within ReadHeaderTimeout, a body within ReadTimeout.
		ReadTimeout: s.cfg.ReadHeaderTimeout,
		HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
			if cl := h.ContentLength(); cl == 0 || cl == -2 {
				return fasthttp.RequestConfig{}
			}
			return fasthttp.RequestConfig{ReadTimeout: s.cfg.ReadTimeout}
		},
		WriteTimeout: s.cfg.WriteTimeout,
		IdleTimeout:  s.cfg.IdleTimeout,
		// Headers up to 16 KiB (net/http's server allowed 64; nginx 8 per line).
		ReadBufferSize:               16 << 10,
		MaxRequestBodySize:           int(s.cfg.MaxBodyBytes),
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		Logger:                       edgeLogger{s.log},
	}
	defer ln.Close()
	return s.serveUntil(ctx, ln, func() error { return srv.Serve(ln) }, srv.ShutdownWithContext)
}

// edgeError answers a request the edge could not read: 413 for a body
// over MaxBodyBytes, 431 for headers over the read buffer, else 400; as
// problem+json, like every refusal.
func (s *Service) edgeError(ctx *fasthttp.RequestCtx, err error) {
	status, detail := http.StatusBadRequest, "the request could not be read"
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, detail = http.StatusRequestEntityTooLarge, "the body is larger than "+strconv.FormatInt(s.cfg.MaxBodyBytes, 10)+" bytes"
	case errors.As(err, &small):
		status, detail = http.StatusRequestHeaderFieldsTooLarge, "the request headers are too large"
	case errors.Is(err, fasthttp.ErrTimeout) || isTimeout(err):
		status, detail = http.StatusRequestTimeout, "the request was not received in time"
	}
	ctx.Response.Reset()
	for k, v := range s.secHeaders {
		ctx.Response.Header.Set(k, v[0])
	}
	ctx.Response.Header.Set(httpx.HeaderRequestID, httpx.RequestID(""))
	ctx.SetConnectionClose()
	problem(ctx, httpx.NewProblem(status, detail))
}

func isTimeout(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}

// edgeLogger passes fasthttp's own messages to the service log.
type edgeLogger struct{ log *slog.Logger }

func (l edgeLogger) Printf(format string, args ...any) {
	l.log.Warn("gateway edge: " + fmt.Sprintf(format, args...))
}

// detached gives each request a context of its own, ended when the handler
// returns, as net/http's server does: the adaptor's context is fasthttp's
// RequestCtx, which the server reuses for the next request while goroutines
// the handler started (net/http's transport dialling upstream, say) may
// still read it.
func detached(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// errMalformed is a request net/http's server would refuse and fasthttp
// lets through (a space in a header name, a bad escape in the target),
// which no path may pass on.
var errMalformed = errors.New("gateway edge: malformed request")

// serve is the public listener's handler.
func (e *edge) serve(ctx *fasthttp.RequestCtx) {
	// The target as net/http's server parses it.
	u, err := url.ParseRequestURI(string(ctx.Request.Header.RequestURI()))
	if err != nil || !validHeaders(&ctx.Request.Header) {
		e.s.edgeError(ctx, errMalformed)
		return
	}
	if e.fast(ctx, u) {
		e.s.metrics.edgeFast.Inc()
		return
	}
	e.s.metrics.edgeFull.Inc()
	e.slow(ctx)
}

// hopHeaders are not forwarded (RFC 9110, section 7.6.1), as in
// net/http/httputil.ReverseProxy; X-Forwarded-* and Forwarded from a client
// are dropped too (the gateway is the edge and sets its own), and so are
// the client's X-Request-Id (the gateway sets the request's) and trace
// context (the gateway's span is the upstream's parent).
var hopHeaders = [][]byte{[]byte("Connection"), []byte("Proxy-Connection"), []byte("Keep-Alive"), []byte("Proxy-Authenticate"),
	[]byte("Proxy-Authorization"), []byte("Te"), []byte("Trailer"), []byte("Transfer-Encoding"), []byte("Upgrade"),
	[]byte("Forwarded"), []byte("X-Forwarded-For"), []byte("X-Forwarded-Host"), []byte("X-Forwarded-Proto"),
	[]byte("Host"), []byte(httpx.HeaderRequestID), []byte("Traceparent"), []byte("Tracestate")}

// respHopHeaders are the response headers not passed back: hop-by-hop,
// framing and those the edge's server writes itself.
var respHopHeaders = [][]byte{[]byte("Connection"), []byte("Proxy-Connection"), []byte("Keep-Alive"), []byte("Proxy-Authenticate"),
	[]byte("Te"), []byte("Trailer"), []byte("Transfer-Encoding"), []byte("Upgrade"), []byte("Content-Length"), []byte("Date"), []byte("Server")}

// fast proxies a request when it takes the fast path, and tells whether it
// did; it writes nothing to ctx when it did not.
func (e *edge) fast(ctx *fasthttp.RequestCtx, u *url.URL) bool {
	start := time.Now()
	req := &ctx.Request
	// fasthttp reads a request without Content-Length or Transfer-Encoding
	// as having no body (ContentLength -2); chunked is -1.
	if cl := req.Header.ContentLength(); !(ctx.IsGet() || ctx.IsHead()) || (cl != 0 && cl != -2) || len(req.Body()) != 0 ||
		req.Header.Peek("Transfer-Encoding") != nil || req.Header.Peek("Upgrade") != nil || req.Header.Peek("Expect") != nil {
		return false
	}
	if u.Scheme != "" || u.Host != "" || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return false // absolute-form and asterisk-form targets: the full path's
	}
	s := e.s
	m, err := s.routes.Resolve(u.Path, u.EscapedPath())
	if err != nil || m.Route.Upstream == "" {
		return false
	}
	hc := e.clients[m.Route.Upstream]
	if hc == nil {
		return false
	}
	var cur *staff.Current
	if m.Route.Staff() {
		// A cookie fasthttp reads otherwise than net/http would finds no
		// session, and the full path answers.
		c := req.Header.Cookie(SessionCookie)
		if len(c) == 0 {
			return false
		}
		var err error
		if cur, err = s.staff.Session(context.Background(), string(c)); err != nil || cur == nil || !m.Route.Allows(cur.Account.Role) {
			return false
		}
	}

	// From here on the request is the fast path's, whatever happens.
	method := "GET"
	if ctx.IsHead() {
		method = "HEAD"
	}
	tctx := s.prop.Extract(context.Background(), requestCarrier{&req.Header})
	tctx, span := httpx.StartServerSpan(tctx, e.tracer, method, u.Path)
	defer span.End()
	reqID := httpx.RequestID(string(req.Header.Peek(httpx.HeaderRequestID)))
	res := &ctx.Response
	for _, kv := range e.secHeaders {
		res.Header.SetCanonical(kv[0], kv[1])
	}
	res.Header.Set(httpx.HeaderRequestID, reqID)
	status := e.proxy(ctx, tctx, hc, u, m.Route.Upstream, m.Path, cur, reqID)
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	s.metrics.observeUpstream(m.Route.Upstream, status, time.Since(start))
	// The length announced (0 for a streamed answer of unknown length).
	httpx.LogRequest(tctx, s.log, method, u.Path, status, max(res.Header.ContentLength(), 0), start, reqID)
	return true
}

// proxy sends the request upstream and writes the answer, returning the
// status it wrote.
func (e *edge) proxy(ctx *fasthttp.RequestCtx, tctx context.Context, hc *fasthttp.HostClient, u *url.URL, upName, path string, cur *staff.Current, reqID string) int {
	s := e.s
	t := s.upstreams[upName]
	out := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(out)
	out.Header.DisableNormalizing()
	out.Header.SetMethodBytes(ctx.Request.Header.Method())
	// As ReverseProxy sends it: the checked path, escaped again, and the
	// query as it came.
	out.SetRequestURI((&url.URL{Path: joinPath(t.Path, path), RawQuery: u.RawQuery}).RequestURI())
	out.URI().DisablePathNormalizing = true
	out.Header.SetHost(t.Host)
	out.UseHostHeader = true
	copyRequestHeaders(&out.Header, &ctx.Request.Header)

	// Then the gateway's own.
	out.Header.Set("X-Forwarded-For", clientAddr(ctx))
	out.Header.SetBytesV("X-Forwarded-Host", ctx.Request.Header.Host())
	out.Header.Set("X-Forwarded-Proto", "http")
	out.Header.Set(httpx.HeaderRequestID, reqID)
	tok, err := s.identityToken(upName, clientAddr(ctx), cur)
	if err != nil {
		s.log.ErrorContext(tctx, "gateway: sign identity", "error", err)
		return problem(ctx, httpx.NewProblem(http.StatusInternalServerError, "internal error; it has been logged"))
	}
	out.Header.Set(identity.Header, tok)
	if cur != nil {
		out.Header.Set(HeaderCSRF, cur.Session.CSRFToken)
	}
	s.prop.Inject(tctx, requestCarrier{&out.Header})

	resp := fasthttp.AcquireResponse()
	resp.Header.SetNoDefaultContentType(true)
	if ctx.IsHead() {
		resp.SkipBody = true
	}
	err = hc.DoTimeout(out, resp, s.cfg.UpstreamTimeout)
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		if errors.Is(err, fasthttp.ErrTimeout) {
			s.log.WarnContext(tctx, "gateway: upstream timed out", "path", u.Path, "error", err)
			return problem(ctx, httpx.NewProblem(http.StatusGatewayTimeout, "the service did not answer in time"))
		}
		s.log.WarnContext(tctx, "gateway: upstream unavailable", "path", u.Path, "error", err)
		return problem(ctx, httpx.NewProblem(http.StatusBadGateway, "the service is unavailable"))
	}

	w := &ctx.Response.Header
	copyResponseHeaders(w, &resp.Header)
	status := resp.StatusCode()
	w.SetStatusCode(status)
	if ctx.IsHead() || noBody(status) {
		if cl := resp.Header.ContentLength(); cl >= 0 && ctx.IsHead() {
			w.SetContentLength(cl)
		}
		fasthttp.ReleaseResponse(resp)
		return status
	}
	if resp.IsBodyStream() {
		ctx.Response.SetBodyStream(&upstreamBody{r: resp.BodyStream(), resp: resp}, resp.Header.ContentLength())
		return status
	}
	ctx.Response.SetBody(resp.Body())
	fasthttp.ReleaseResponse(resp)
	return status
}

// copyRequestHeaders copies what goes upstream of a client's headers: not
// the hop-by-hop ones nor those its Connection names, no identity or CSRF
// header in any spelling, and the Cookie line without the gateway's
// cookies.
func copyRequestHeaders(dst, src *fasthttp.RequestHeader) {
	named := connectionNamed(src.All())
	for k, v := range src.All() {
		switch {
		case isOneOf(k, hopHeaders) || isNamed(k, named) || header.IsIdentity(k):
			if bytesEqualFold(k, "Te") && strings.Contains(strings.ToLower(string(v)), "trailers") {
				dst.Set("Te", "trailers") // the one hop-by-hop value passed on, as ReverseProxy does
			}
		case bytesEqualFold(k, "Cookie"):
			if line, _ := header.ScrubCookies(string(v), SessionCookie, LoginCookie); line != "" {
				dst.Add("Cookie", line)
			}
		default:
			dst.AddBytesKV(k, v)
		}
	}
}

// copyResponseHeaders passes an upstream's headers back, less the
// hop-by-hop ones, those the gateway owns (already set) and any Set-Cookie
// of the gateway's cookies.
func copyResponseHeaders(dst, src *fasthttp.ResponseHeader) {
	named := connectionNamed(src.All())
	for k, v := range src.All() {
		switch {
		case isOneOf(k, respHopHeaders) || isNamed(k, named) || isOneOf(k, ownedHeaders):
		case bytesEqualFold(k, "Set-Cookie") && header.SetsCookie(v, SessionCookie, LoginCookie):
		default:
			dst.AddBytesKV(k, v)
		}
	}
}

// ownedHeaders are gatewayHeaders as bytes.
var ownedHeaders = func() [][]byte {
	b := make([][]byte, len(gatewayHeaders))
	for i, h := range gatewayHeaders {
		b[i] = []byte(h)
	}
	return b
}()

// connectionNamed are the header names a Connection header lists.
func connectionNamed(all func(func(k, v []byte) bool)) []string {
	var named []string
	for k, v := range all {
		if !bytesEqualFold(k, "Connection") {
			continue
		}
		for name := range strings.SplitSeq(string(v), ",") {
			if name = strings.TrimSpace(name); name != "" {
				named = append(named, name)
			}
		}
	}
	return named
}

func isNamed(k []byte, named []string) bool {
	for _, n := range named {
		if bytesEqualFold(k, n) {
			return true
		}
	}
	return false
}

func isOneOf(k []byte, names [][]byte) bool {
	for _, n := range names {
		if bytes.EqualFold(k, n) {
			return true
		}
	}
	return false
}

// bytesEqualFold is strings.EqualFold on a header name as fasthttp hands
// it over (short names convert on the stack).
func bytesEqualFold(b []byte, s string) bool { return strings.EqualFold(string(b), s) }

// validHeaders tells whether every header has a token for a name and a
// value without control characters but tab (RFC 9110, section 5), as
// net/http's server requires.
func validHeaders(h *fasthttp.RequestHeader) bool {
	for k, v := range h.All() {
		if len(k) == 0 {
			return false
		}
		for _, c := range k {
			if !isTokenChar(c) {
				return false
			}
		}
		for _, c := range v {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return false
			}
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// requestCarrier carries the W3C trace context in fasthttp's request
// headers.
type requestCarrier struct{ h *fasthttp.RequestHeader }

func (c requestCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c requestCarrier) Set(key, value string) { c.h.Set(http.CanonicalHeaderKey(key), value) }
func (c requestCarrier) Keys() []string {
	var keys []string
	for k := range c.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}

func noBody(status int) bool {
	return status == http.StatusNoContent || status == http.StatusNotModified || (status >= 100 && status < 200)
}

// upstreamBody streams an upstream's body to the client; the server closes
// it when the answer is written, which gives the upstream connection back.
type upstreamBody struct {
	r    io.Reader
	resp *fasthttp.Response
}

func (b *upstreamBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *upstreamBody) Close() error {
	err := b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
	return err
}

// problem writes a problem+json answer on the fast path.
func problem(ctx *fasthttp.RequestCtx, p *httpx.Problem) int {
	rec := problemRecorder{h: http.Header{}}
	httpx.WriteProblem(&rec, &http.Request{URL: &url.URL{Path: string(ctx.Path())}}, p)
	for k, vs := range rec.h {
		for _, v := range vs {
			ctx.Response.Header.Set(k, v)
		}
	}
	ctx.Response.SetStatusCode(rec.status)
	ctx.Response.SetBody(rec.body)
	return rec.status
}

// problemRecorder collects what httpx.WriteProblem writes.
type problemRecorder struct {
	h      http.Header
	status int
	body   []byte
}

func (r *problemRecorder) Header() http.Header { return r.h }
func (r *problemRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *problemRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, b...)
	return len(b), nil
}

// clientAddr is the client's IP address, as X-Forwarded-For carries it.
func clientAddr(ctx *fasthttp.RequestCtx) string {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(ctx.RemoteAddr().String())
	if err != nil {
		return ctx.RemoteAddr().String()
	}
	return host
}
