package gateway

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
)

// newProxy builds the one reverse proxy for every upstream; Rewrite takes
// the target and the path from what serve resolved.
func (s *Service) newProxy() *httputil.ReverseProxy {
	tr := &http.Transport{
		Proxy:                 nil, // upstreams are on the internal network
		DialContext:           (&net.Dialer{Timeout: s.cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: s.cfg.UpstreamTimeout,
		ExpectContinueTimeout: time.Second,
	}
	return &httputil.ReverseProxy{
		Rewrite:        s.rewrite,
		Transport:      tr,
		ModifyResponse: modifyResponse,
		ErrorHandler:   s.proxyError,
		BufferPool:     &bufferPool{},
	}
}

// bufferPool reuses the proxy's copy buffers: without it every response
// allocates (and clears) 32 KiB.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

func (s *Service) rewrite(pr *httputil.ProxyRequest) {
	p := pr.In.Context().Value(keyProxy).(*proxyReq)
	t := s.upstreams[p.target]
	out := pr.Out
	out.URL.Scheme = t.Scheme
	out.URL.Host = t.Host
	out.URL.Path = joinPath(t.Path, p.path)
	out.URL.RawPath = ""
	out.URL.RawQuery = pr.In.URL.RawQuery
	out.Host = ""
	pr.SetXForwarded()
	ScrubRequestHeader(out.Header)
	if p.token != "" {
		out.Header.Set(identity.Header, p.token)
		out.Header.Set(HeaderCSRF, p.csrf)
	}
	out.Header.Set(httpx.HeaderRequestID, p.reqID)
	s.prop.Inject(out.Context(), propagation.HeaderCarrier(out.Header))
}

func joinPath(base, p string) string {
	base = strings.TrimSuffix(base, "/")
	return base + p
}

// ScrubRequestHeader removes from a request going upstream what only the
// gateway may say: any identity header (also spelled with underscores or
// other case, which some servers fold into the same name), the CSRF header
// (the gateway sets its own for staff), and the gateway's own cookies,
// which no upstream needs to see.
func ScrubRequestHeader(h http.Header) {
	for k := range h {
		n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		if n == "fabrika-identity" || n == "x-csrf-token" {
			delete(h, k)
		}
	}
	cookies := h.Values("Cookie")
	if len(cookies) == 0 {
		return
	}
	var kept []string
	changed := false
	for _, line := range cookies {
		for part := range strings.SplitSeq(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if ownCookie(name) {
				changed = true
				continue
			}
			if t := strings.TrimSpace(part); t != "" {
				kept = append(kept, t)
			}
		}
	}
	if !changed {
		return
	}
	h.Del("Cookie")
	if len(kept) > 0 {
		h.Set("Cookie", strings.Join(kept, "; "))
	}
}

func ownCookie(name string) bool {
	name = strings.TrimSpace(name)
	return strings.EqualFold(name, SessionCookie) || strings.EqualFold(name, LoginCookie)
}

// modifyResponse drops what an upstream may not decide: the headers the
// gateway owns (its values are already on the response) and any cookie
// named like the gateway's.
func modifyResponse(res *http.Response) error {
	h := res.Header
	for _, k := range gatewayHeaders {
		h.Del(k)
	}
	if sc := h.Values("Set-Cookie"); len(sc) > 0 {
		var kept []string
		for _, c := range sc {
			name, _, _ := strings.Cut(c, "=")
			if !ownCookie(name) {
				kept = append(kept, c)
			}
		}
		h.Del("Set-Cookie")
		for _, c := range kept {
			h.Add("Set-Cookie", c)
		}
	}
	return nil
}

func (s *Service) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	var nerr net.Error
	switch {
	case errors.As(err, &mbe):
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusRequestEntityTooLarge, "the body is too large"))
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		w.WriteHeader(499) // the client went away; nobody reads this
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()):
		s.log.WarnContext(r.Context(), "gateway: upstream timed out", "path", r.URL.Path, "error", err)
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusGatewayTimeout, "the service did not answer in time"))
	default:
		s.log.WarnContext(r.Context(), "gateway: upstream unavailable", "path", r.URL.Path, "error", err)
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusBadGateway, "the service is unavailable"))
	}
}
