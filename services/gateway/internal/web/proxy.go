package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/services/gateway/internal/header"
)

// newProxy builds the one reverse proxy for every upstream; Rewrite takes
// the target and the path from what serve resolved.
func (s *Public) newProxy() *httputil.ReverseProxy {
	tr := &http.Transport{
		Proxy:                 nil, // upstreams are on the internal network
		DialContext:           (&net.Dialer{Timeout: s.cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: s.cfg.UpstreamTimeout,
		ExpectContinueTimeout: time.Second,
		// What the client accepts goes upstream as it came, and the answer
		// comes back as the upstream encoded it: never decompressed here.
		DisableCompression: true,
	}
	return &httputil.ReverseProxy{
		Rewrite:        s.rewrite,
		Transport:      tr,
		ModifyResponse: modifyResponse,
		ErrorHandler:   s.proxyError,
		ErrorLog:       s.errorLog,
		BufferPool:     &bufferPool{},
	}
}

// bufferPool reuses the proxy's copy buffers: without it every response
// allocates (and clears) 32 KiB. It holds array pointers, so that neither
// Get nor Put allocates.
type bufferPool struct{ p sync.Pool }

const copyBufferSize = 32 << 10

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[copyBufferSize]byte); ok {
		return v[:]
	}
	return make([]byte, copyBufferSize)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) >= copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(buf[:copyBufferSize]))
	}
}

func (s *Public) rewrite(pr *httputil.ProxyRequest) {
	p := pr.In.Context().Value(keyProxy).(*proxyReq)
	t := s.upstreams[p.target]
	out := pr.Out
	out.URL.Scheme = t.Scheme
	out.URL.Host = t.Host
	out.URL.Path = joinPath(t.Path, p.path)
	out.URL.RawPath = ""
	out.URL.RawQuery = pr.In.URL.RawQuery
	// The upstream sees the browser's Host, so that its same-origin check
	// (http.CrossOriginProtection compares Origin with Host) agrees with the
	// browser's.
	out.Host = pr.In.Host
	pr.SetXForwarded()
	header.ScrubRequest(out.Header, SessionCookie, LoginCookie)
	if p.token != "" {
		out.Header.Set(identity.Header, p.token)
	}
	if p.csrf != "" {
		out.Header.Set(HeaderCSRF, p.csrf)
	}
	if v := out.Header[httpx.HeaderRequestID]; len(v) != 1 || v[0] != p.reqID { // serve has set it on the request
		out.Header.Set(httpx.HeaderRequestID, p.reqID)
	}
	s.prop.Inject(out.Context(), propagation.HeaderCarrier(out.Header))
}

func joinPath(base, p string) string {
	base = strings.TrimSuffix(base, "/")
	return base + p
}

// modifyResponse drops what an upstream may not decide: the headers the
// gateway owns (its values are already on the response) and any cookie
// named like the gateway's.
func modifyResponse(res *http.Response) error {
	header.ScrubResponse(res.Header, gatewayHeaders, SessionCookie, LoginCookie)
	return nil
}

func (s *Public) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusRequestEntityTooLarge, "the body is too large"))
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		w.WriteHeader(499) // the client went away; nobody reads this
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		s.log.WarnContext(r.Context(), "gateway: upstream timed out", "path", r.URL.Path, "error", err)
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusGatewayTimeout, "the service did not answer in time"))
	default:
		s.log.WarnContext(r.Context(), "gateway: upstream unavailable", "path", r.URL.Path, "error", err)
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusBadGateway, "the service is unavailable"))
	}
}

func isTimeout(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}
