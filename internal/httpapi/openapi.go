package httpapi

import (
	_ "embed"
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"
)

// OpenAPIYAML is the OpenAPI 3.1 description of every route, the one
// source of truth: routes_test.go fails when a route is missing from it,
// and the tests validate the answers they receive against it.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

// openAPIJSON is OpenAPIYAML as JSON, served at /openapi.json.
var openAPIJSON = mustJSON(OpenAPIYAML)

func mustJSON(y []byte) []byte {
	var doc any
	if err := yaml.Unmarshal(y, &doc); err != nil {
		panic("httpapi: openapi.yaml: " + err.Error())
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic("httpapi: openapi.yaml: " + err.Error())
	}
	return b
}

// openAPI serves the OpenAPI description.
func (s *Server) openAPI(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/json", openAPIJSON)
}
