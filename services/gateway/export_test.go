package gateway

import "github.com/valyala/fasthttp"

// EdgeHandler is the plain-HTTP listener's handler, for benchmarks that
// call it without a network between the client and the gateway.
func (s *Service) EdgeHandler() fasthttp.RequestHandler { return s.newEdge().serve }
