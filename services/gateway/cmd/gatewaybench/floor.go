package main

import (
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"
)

// startFloor serves the floor of a Go proxy on a loopback port: the edge's
// HTTP stack (a fasthttp server, a fasthttp.HostClient upstream) with
// nothing of the gateway on it: no checks, session, access log, span or
// header scrubbing. It forwards every request as it came, less Connection,
// and the answer as it came back. What it costs is what any Go proxy built
// on that stack costs on the machine; the gateway's own work is the rest.
func startFloor(upstream string) (string, func() error, error) {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return "", nil, fmt.Errorf("floor: upstream %q is not an http:// URL", upstream)
	}
	hc := &fasthttp.HostClient{Addr: u.Host, MaxConns: 1024, MaxIdleConnDuration: 50 * time.Second,
		NoDefaultUserAgentHeader: true, DisableHeaderNamesNormalizing: true, DisablePathNormalizing: true}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Request.Header.Del("Connection")
			if err := hc.DoTimeout(&ctx.Request, &ctx.Response, 30*time.Second); err != nil {
				ctx.Error("upstream: "+err.Error(), fasthttp.StatusBadGateway)
				return
			}
			ctx.Response.Header.Del("Connection")
		},
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() error {
		err := srv.Shutdown()
		<-done
		return err
	}, nil
}
