package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
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
// the same functions (route.Resolver, staff.Service.Session, header's
// scrubbing, the security headers) on a net/http view of the headers.
type edge struct {
	s       *Service
	slow    fasthttp.RequestHandler
	tracer  trace.Tracer
	clients map[string]*fasthttp.HostClient // by upstream name; plain-HTTP upstreams only
}

func (s *Service) newEdge() *edge {
	e := &edge{s: s, slow: fasthttpadaptor.NewFastHTTPHandler(detached(s.PublicHandler())),
		tracer: httpx.Tracer(s.h.TP), clients: map[string]*fasthttp.HostClient{}}
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
			DisableHeaderNamesNormalizing: true, // names go as the client spelled them (after net/http canonicalised them, see requestHeader)
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

// serve is the public listener's handler.
func (e *edge) serve(ctx *fasthttp.RequestCtx) {
	if e.fast(ctx) {
		e.s.metrics.edgeFast.Inc()
		return
	}
	e.s.metrics.edgeFull.Inc()
	e.slow(ctx)
}

// hopHeaders are not forwarded (RFC 9110, section 7.6.1), as in
// net/http/httputil.ReverseProxy; with Rewrite, it also drops a client's
// X-Forwarded-* and Forwarded, the gateway being the edge.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// fast proxies a request when it takes the fast path, and tells whether it
// did; it writes nothing to ctx when it did not.
func (e *edge) fast(ctx *fasthttp.RequestCtx) bool {
	start := time.Now()
	req := &ctx.Request
	// fasthttp reads a request without Content-Length or Transfer-Encoding
	// as having no body (ContentLength -2); chunked is -1.
	if cl := req.Header.ContentLength(); !(ctx.IsGet() || ctx.IsHead()) || (cl != 0 && cl != -2) || len(req.Body()) != 0 ||
		req.Header.Peek("Transfer-Encoding") != nil || req.Header.Peek("Upgrade") != nil || req.Header.Peek("Expect") != nil {
		return false
	}
	uri := string(req.Header.RequestURI())
	if !strings.HasPrefix(uri, "/") {
		return false
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return false
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
	in := requestHeader(&req.Header)
	r := &http.Request{Method: string(req.Header.Method()), Header: in} // for net/http's cookie parsing
	var cur *staff.Current
	if m.Route.Staff() {
		c, err := r.Cookie(SessionCookie)
		if err != nil {
			return false
		}
		if cur, err = s.staff.Session(context.Background(), c.Value); err != nil || cur == nil || !m.Route.Allows(cur.Account.Role) {
			return false
		}
	}

	// From here on the request is the fast path's, whatever happens.
	tctx := s.prop.Extract(context.Background(), propagation.HeaderCarrier(in))
	tctx, span := httpx.StartServerSpan(tctx, e.tracer, r.Method, u.Path)
	defer span.End()
	reqID := httpx.RequestID(in.Get(httpx.HeaderRequestID))
	res := &ctx.Response
	for k, v := range s.secHeaders {
		res.Header.Set(k, v[0])
	}
	res.Header.Set(httpx.HeaderRequestID, reqID)
	status := e.proxy(ctx, tctx, hc, in, u, m.Route.Upstream, m.Path, cur, reqID)
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	s.metrics.observeUpstream(m.Route.Upstream, status, time.Since(start))
	httpx.LogRequest(tctx, s.log, r.Method, u.Path, status, res.Header.ContentLength(), start, reqID)
	return true
}

// requestHeader is a net/http view of a request's headers, as net/http's
// server would have built it: canonical names, one entry per line.
func requestHeader(h *fasthttp.RequestHeader) http.Header {
	out := make(http.Header, h.Len()+4)
	for k, v := range h.All() {
		name := http.CanonicalHeaderKey(string(k))
		out[name] = append(out[name], string(v))
	}
	delete(out, "Host") // net/http keeps it apart, in Request.Host
	return out
}

// proxy sends the request upstream and writes the answer, returning the
// status it wrote.
func (e *edge) proxy(ctx *fasthttp.RequestCtx, tctx context.Context, hc *fasthttp.HostClient, in http.Header, u *url.URL, upName, path string, cur *staff.Current, reqID string) int {
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

	// What goes upstream: the client's headers less the hop-by-hop ones
	// (and those its Connection names), scrubbed of identities and the
	// gateway's cookies; then the gateway's own.
	for _, line := range in.Values("Connection") {
		for name := range strings.SplitSeq(line, ",") {
			if name = strings.TrimSpace(name); name != "" {
				in.Del(name)
			}
		}
	}
	for _, k := range hopHeaders {
		in.Del(k)
	}
	if te := ctx.Request.Header.Peek("Te"); strings.Contains(strings.ToLower(string(te)), "trailers") {
		in.Set("Te", "trailers")
	}
	header.ScrubRequest(in, SessionCookie, LoginCookie)
	in.Set("X-Forwarded-For", clientAddr(ctx))
	in.Set("X-Forwarded-Host", string(ctx.Request.Header.Host()))
	in.Set("X-Forwarded-Proto", "http")
	in.Set(httpx.HeaderRequestID, reqID)
	if cur != nil {
		a := cur.Account
		tok, err := cur.CachedToken(s.cfg.Now(), identityTokenReuse, func(now time.Time) (string, error) {
			return s.cfg.Signer.Sign(identity.Identity{Subject: a.ID, Name: a.Login, Role: a.Role, Workstations: a.Workstations}, now)
		})
		if err != nil {
			s.log.ErrorContext(tctx, "gateway: sign identity", "error", err)
			return problem(ctx, httpx.NewProblem(http.StatusInternalServerError, "internal error; it has been logged"))
		}
		in.Set(identity.Header, tok)
		in.Set(HeaderCSRF, cur.Session.CSRFToken)
	}
	s.prop.Inject(tctx, propagation.HeaderCarrier(in))
	for k, vs := range in {
		for _, v := range vs {
			out.Header.Add(k, v)
		}
	}

	resp := fasthttp.AcquireResponse()
	if ctx.IsHead() {
		resp.SkipBody = true
	}
	err := hc.DoTimeout(out, resp, s.cfg.UpstreamTimeout)
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		if errors.Is(err, fasthttp.ErrTimeout) {
			s.log.WarnContext(tctx, "gateway: upstream timed out", "path", u.Path, "error", err)
			return problem(ctx, httpx.NewProblem(http.StatusGatewayTimeout, "the service did not answer in time"))
		}
		s.log.WarnContext(tctx, "gateway: upstream unavailable", "path", u.Path, "error", err)
		return problem(ctx, httpx.NewProblem(http.StatusBadGateway, "the service is unavailable"))
	}

	// What comes back: the upstream's headers less the hop-by-hop ones and
	// those the gateway owns (already set), less the gateway's cookies.
	back := responseHeader(&resp.Header)
	header.ScrubResponse(back, gatewayHeaders, SessionCookie, LoginCookie)
	w := &ctx.Response.Header
	for k, vs := range back {
		for _, v := range vs {
			w.Add(k, v)
		}
	}
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

// responseHeader is a net/http view of an upstream's response headers,
// without the hop-by-hop ones and framing, which the edge sets itself.
func responseHeader(h *fasthttp.ResponseHeader) http.Header {
	out := make(http.Header, h.Len())
	var conn []string
	for k, v := range h.All() {
		name := http.CanonicalHeaderKey(string(k))
		switch name {
		case "Content-Length", "Transfer-Encoding", "Date", "Server":
			continue
		case "Connection":
			conn = append(conn, string(v))
			continue
		}
		out[name] = append(out[name], string(v))
	}
	for _, line := range conn {
		for name := range strings.SplitSeq(line, ",") {
			if name = strings.TrimSpace(name); name != "" {
				out.Del(name)
			}
		}
	}
	for _, k := range []string{"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Te", "Trailer", "Upgrade"} {
		out.Del(k)
	}
	return out
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
