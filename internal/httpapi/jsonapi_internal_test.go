package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
)

// JSON:API requires the members of errors to be unique: the same problem
// reported twice is written once.
func TestErrorDocumentsHoldEachErrorOnce(t *testing.T) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e := echo.New()
	rec := httptest.NewRecorder()
	c := e.NewContext(httptest.NewRequest(http.MethodPost, "/", nil), rec)
	twice := func() *apitoken.Error { return apitoken.FieldErrorf("scope", "scope is wrong") }
	s.handleError(apitoken.Errors{twice(), twice(), apitoken.FieldErrorf("description", "description is wrong")}, c)
	if n := strings.Count(rec.Body.String(), `"code":"invalid_value"`); n != 2 {
		t.Fatalf("%d error objects, want 2: %s", n, rec.Body)
	}
}
