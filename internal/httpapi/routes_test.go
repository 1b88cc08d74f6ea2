package httpapi

import (
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIDescribesEveryRoute compares the routes the server registers
// with the operations openapi.yaml describes: each must have the other.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPIYAML, &spec); err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{}
	for path, item := range spec.Paths {
		for method := range item {
			if method != "parameters" && method != "summary" && method != "description" {
				described[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	// The methods an OpenAPI path item can name; Echo's Any also
	// registers CONNECT, PROPFIND and REPORT on /auth, which it cannot.
	nameable := []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}
	param := regexp.MustCompile(`:(\w+)`)
	s := NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), Config{}, nil)
	registered := map[string]bool{}
	for _, r := range s.echo.Routes() {
		if !slices.Contains(nameable, r.Method) {
			continue
		}
		path := param.ReplaceAllString(r.Path, "{$1}")
		path = strings.Replace(path, "/*", "/{path}", 1)
		key := r.Method + " " + path
		registered[key] = true
		if !described[key] {
			t.Errorf("%s is served but openapi.yaml does not describe it", key)
		}
	}
	for key := range described {
		if !registered[key] {
			t.Errorf("openapi.yaml describes %s, which is not served", key)
		}
	}
	if len(registered) < 20 {
		t.Fatalf("only %d routes found: %v", len(registered), registered)
	}
}
