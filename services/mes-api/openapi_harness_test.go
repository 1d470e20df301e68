package mesapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// contract checks every request a test sends and every answer it gets
// against mes-api's OpenAPI document (internal/web/openapi.json), with
// kin-openapi's openapi3filter: a request the document calls invalid must be
// refused (4xx); every answer must be one the document describes (status,
// content type, body schema). Admin and operational routes, which are not in
// the public document, are left out.
type contract struct {
	router routers.Router
	opts   *openapi3filter.Options
}

func newContract(t testing.TB) *contract {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("internal/web/openapi.json")
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.json is not a valid document: %v", err)
	}
	doc.Servers = nil // the tests call mes-api directly, not through the gateway's /api
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contract{router: r, opts: &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true,
		MultiError:            true,
	}}
}

func public(path string) bool { return strings.HasPrefix(path, "/v1/") }

// check validates one exchange; body is the request body sent.
func (c *contract) check(t testing.TB, req *http.Request, body []byte, res *http.Response, resBody []byte) {
	t.Helper()
	if !public(req.URL.Path) {
		return
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("openapi: %s %s is not in the document but answered %d", req.Method, req.URL.Path, res.StatusCode)
		}
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: req.Clone(context.Background()), PathParams: params, Route: route, Options: c.opts}
	in.Request.Body = io.NopCloser(bytes.NewReader(body))
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && res.StatusCode < 400 {
		t.Errorf("openapi: %s %s is invalid by the document but answered %d: %v", req.Method, req.URL.Path, res.StatusCode, err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(resBody)), Options: c.opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("openapi: the answer to %s %s (%d) breaks the document: %v\n%s", req.Method, req.URL.Path, res.StatusCode, err, resBody)
	}
}
