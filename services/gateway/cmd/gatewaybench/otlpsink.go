package main

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// startOTLPSink serves OTLP/HTTP on a loopback port and discards what it
// is sent, as a collector would take it; it returns the endpoint.
// batches counts the export requests it took.
func startOTLPSink(batches *atomic.Int64) (string, func() error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		batches.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), srv.Close, nil
}
