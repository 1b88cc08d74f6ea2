package jsonapitest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The schema tests rely on must be the official one the project was given.
func TestSchemaIsTheSharedCopy(t *testing.T) {
	shared := filepath.Join(filepath.Dir(SchemaPath()), "..", "..", "..", "shared", "jsonapi", "schema.json")
	want, err := os.ReadFile(shared)
	if err != nil {
		t.Skipf("no shared copy to compare with here: %v", err)
	}
	got, err := os.ReadFile(SchemaPath())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("testdata/jsonapi/schema.json differs from ../shared/jsonapi/schema.json")
	}
}

func TestCheck(t *testing.T) {
	valid := map[string]string{
		"a resource":        `{"data":{"type":"apiToken","id":"1","attributes":{"description":"x"}}}`,
		"an empty list":     `{"data":[],"links":{"self":"http://h/x","next":null}}`,
		"an error":          `{"errors":[{"status":"400","code":"invalid_value","source":{"pointer":"/data/attributes/scope"}}]}`,
		"meta only":         `{"meta":{"n":1}}`,
		"null primary data": `{"data":null}`,
	}
	for name, doc := range valid {
		t.Run("accepts "+name, func(t *testing.T) {
			if err := Check([]byte(doc)); err != nil {
				t.Fatal(err)
			}
		})
	}
	invalid := map[string]string{
		"data and errors":         `{"data":null,"errors":[]}`,
		"no top-level member":     `{}`,
		"a resource without id":   `{"data":{"type":"apiToken"}}`,
		"an unknown member":       `{"data":null,"foo":1}`,
		"an attribute named id":   `{"data":{"type":"t","id":"1","attributes":{"id":"2"}}}`,
		"a relative link":         `{"data":[],"links":{"self":"/x y"}}`,
		"an error status number":  `{"errors":[{"status":400}]}`,
		"an unknown error member": `{"errors":[{"status":"400","field":"x"}]}`,
		"included without data":   `{"meta":{},"included":[]}`,
	}
	for name, doc := range invalid {
		t.Run("refuses "+name, func(t *testing.T) {
			if err := Check([]byte(doc)); err == nil {
				t.Fatalf("accepted %s", doc)
			}
		})
	}
}
