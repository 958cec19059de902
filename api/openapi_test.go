package api_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// openAPI is api/openapi.yaml, loaded and validated once, with a router that finds an
// operation for any host (the tests' requests go to example.com).
var openAPI = sync.OnceValues(func() (routers.Router, error) {
	doc, err := openapi3.NewLoader().LoadFromFile("openapi.yaml")
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	doc.Servers = nil
	return legacy.NewRouter(doc)
})

// TestOpenAPIDocument: the document is valid OpenAPI 3.1 as kin-openapi reads it.
func TestOpenAPIDocument(t *testing.T) {
	if _, err := openAPI(); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
}

// checkAnswer fails the test when rec, the answer to req, is not one api/openapi.yaml
// documents for req's operation: its status, content type, headers and body schema.
// Requests to paths the document does not have (404s, 405s) are not checked.
func checkAnswer(t testing.TB, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	router, err := openAPI()
	if err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status:  rec.Code,
		Header:  rec.Header(),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(bytes.Clone(rec.Body.Bytes()))
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		t.Errorf("%s %s answered %d, which api/openapi.yaml does not describe: %v\nbody: %.500s",
			req.Method, req.URL, rec.Code, err, rec.Body.String())
	}
}
