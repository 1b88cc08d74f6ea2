// Package jsonapitest checks response documents against the official
// JSON:API 1.0 JSON Schema (testdata/jsonapi/schema.json, copied unchanged
// from the json-api/json-api repository), with format assertions on, so
// that links must be absolute URIs.
package jsonapitest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	once       sync.Once
	schema     *jsonschema.Schema
	errCompile error
)

// SchemaPath returns the path of the JSON:API response schema.
func SchemaPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "jsonapi", "schema.json")
}

func compiled() (*jsonschema.Schema, error) {
	once.Do(func() {
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		f, err := os.Open(SchemaPath())
		if err != nil {
			errCompile = err
			return
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			errCompile = err
			return
		}
		const url = "https://jsonapi.org/schemas/spec/v1.0/draft"
		if errCompile = c.AddResource(url, doc); errCompile != nil {
			return
		}
		schema, errCompile = c.Compile(url)
	})
	return schema, errCompile
}

// Check reports whether body is a valid JSON:API response document.
func Check(body []byte) error {
	s, err := compiled()
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	if err := s.Validate(doc); err != nil {
		return err
	}
	// The schema states "included requires data" with the draft-07
	// "dependencies" keyword, which draft 2020-12 no longer applies.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return err
	}
	if _, inc := top["included"]; inc {
		if _, data := top["data"]; !data {
			return errIncludedWithoutData
		}
	}
	return nil
}

type checkError string

func (e checkError) Error() string { return string(e) }

const errIncludedWithoutData = checkError("jsonapi: included without data")

// Validate fails the test if body is not a valid JSON:API response document.
func Validate(tb testing.TB, body []byte) {
	tb.Helper()
	if err := Check(body); err != nil {
		tb.Fatalf("response is not a valid JSON:API document: %v\n%s", err, body)
	}
}
