package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/errors"

	"github.com/tokend/tokend/internal/httpapi"
)

// openAPI is the validator of tokend's OpenAPI description, built once:
// every answer a test receives is checked against it.
var openAPI = sync.OnceValues(func() (validator.Validator, error) {
	doc, err := libopenapi.NewDocument(httpapi.OpenAPIYAML)
	if err != nil {
		return nil, err
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return v, nil
})

// openAPIMu serialises validations: the validator's caches are not
// documented as safe for concurrent use.
var openAPIMu sync.Mutex

// checkOpenAPI validates an answer against the OpenAPI description. An
// answer to a path or method the description does not have (the tests of
// 404 and 405) has nothing to be checked against.
func checkOpenAPI(t testing.TB, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	v, err := openAPI()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if req.Method == http.MethodOptions && !strings.HasPrefix(req.URL.Path, "/auth") {
		return // CORS preflights, which the Fetch standard describes
	}
	for _, prefix := range []string{"/auth/", "/console/"} {
		if rest, ok := strings.CutPrefix(req.URL.Path, prefix); ok && (rest == "" || strings.Contains(rest, "/")) {
			// OpenAPI has no wildcard path: /auth/{path} and
			// /console/{path} stand for every path below them.
			req = req.Clone(req.Context())
			req.URL.Path, req.URL.RawPath = prefix+"x", ""
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	defer func() { resp.Body = io.NopCloser(bytes.NewReader(body)) }()
	openAPIMu.Lock()
	ok, errs := v.ValidateHttpResponse(req, resp)
	openAPIMu.Unlock()
	if ok {
		return
	}
	var msgs []string
	for _, e := range errs {
		if e.ValidationType == "path" && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed) {
			return
		}
		msgs = append(msgs, describe(e))
	}
	t.Fatalf("%s %s → %d does not match openapi.yaml:\n%s\n%s", req.Method, req.URL.Path, resp.StatusCode, strings.Join(msgs, "\n"), body)
}

func describe(e *errors.ValidationError) string {
	s := e.ValidationType + "/" + e.ValidationSubType + ": " + e.Message + ": " + e.Reason
	for _, se := range e.SchemaValidationErrors {
		s += "\n  " + se.FieldPath + ": " + se.Reason
	}
	return s
}

// TestOpenAPIIsServedAndValid fetches /openapi.json and checks that it is
// the description, and a valid OpenAPI 3.1 document.
func TestOpenAPIIsServedAndValid(t *testing.T) {
	h := newHarness(t, options{})
	r := h.do(req{method: http.MethodGet, path: "/openapi.json"})
	r.expectStatus(t, http.StatusOK, "")
	var doc map[string]any
	if err := json.Unmarshal(r.Body, &doc); err != nil || doc["openapi"] != "3.1.0" {
		t.Fatalf("/openapi.json is not the OpenAPI 3.1 description: %v\n%.200s", err, r.Body)
	}
	v, err := openAPI()
	if err != nil {
		t.Fatal(err)
	}
	if ok, errs := v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Error(describe(e))
		}
	}
}
