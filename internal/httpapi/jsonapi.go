package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/google/jsonapi"
	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/errcode"
)

// mediaType is the JSON:API media type.
const mediaType = "application/vnd.api+json"

// negotiate enforces JSON:API content negotiation: a request body must be
// JSON:API with no media type parameters but profile (415), and a client
// that accepts JSON:API only with parameters gets 406.
func negotiate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if !acceptable(r.Header.Values("Accept")) {
			return requestErrorf(errcode.NotAcceptable,
				"The Accept header allows %s only with media type parameters, which tokend does not support.", mediaType)
		}
		if r.ContentLength != 0 {
			if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// acceptable reports whether the Accept header values let tokend answer
// with plain JSON:API: no header, no JSON:API entry, or at least one JSON:API
// entry without parameters (q and profile aside).
func acceptable(values []string) bool {
	seen := false
	for _, v := range values {
		for _, entry := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(entry))
			if err != nil || mt != mediaType {
				continue
			}
			seen = true
			if q, ok := params["q"]; ok && strings.Trim(q, "0.") == "" {
				continue // q=0 refuses this entry
			}
			delete(params, "q")
			delete(params, "profile")
			if len(params) == 0 {
				return true
			}
		}
	}
	return !seen
}

func checkContentType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != mediaType {
		return requestErrorf(errcode.UnsupportedMediaType, "The request body must be %s.", mediaType)
	}
	for k, v := range params {
		switch {
		case k == "profile":
		case k == "ext" && v == "":
		case k == "ext":
			return requestErrorf(errcode.UnsupportedMediaType, "tokend supports no JSON:API extensions (ext=%q).", v)
		default:
			return requestErrorf(errcode.UnsupportedMediaType,
				"The %s media type takes no %q parameter.", mediaType, k)
		}
	}
	return nil
}

// writeJSON writes v as the response body with the given content type.
func writeJSON(c echo.Context, status int, contentType string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	h := c.Response().Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	c.Response().WriteHeader(status)
	_, err = c.Response().Write(append(body, '\n'))
	return err
}

// writeResource writes a document holding one resource, marshalled by
// google/jsonapi, with a self link.
func writeResource(c echo.Context, status int, model any, self string) error {
	p, err := jsonapi.Marshal(model)
	if err != nil {
		return err
	}
	one := p.(*jsonapi.OnePayload)
	one.Included = nil // related resources are linked, not embedded
	one.Links = &jsonapi.Links{"self": self}
	return writeJSON(c, status, mediaType, one)
}

// writeCollection writes a document holding a page of resources with its
// pagination links and meta.
func writeCollection(c echo.Context, models any, links *jsonapi.Links, meta *jsonapi.Meta) error {
	p, err := jsonapi.Marshal(models)
	if err != nil {
		return err
	}
	many := p.(*jsonapi.ManyPayload)
	many.Included = nil
	many.Links, many.Meta = links, meta
	return writeJSON(c, http.StatusOK, mediaType, many)
}

// attrKind is the JSON type an attribute takes.
type attrKind int

const (
	kindString attrKind = iota
	kindBool
	kindResources
	kindStrings // an array of strings
)

// shape describes the request document an endpoint accepts: its resource
// type, the attributes a client may send, and those it may only read.
// Whether an attribute is required, and what values it may take, is the
// domain's to check once the document's shape is right.
type shape struct {
	typ      string
	attrs    map[string]attrKind
	readOnly []string
}

// decodeDocument reads a JSON:API request document into dst, a struct with
// google/jsonapi tags. Before google/jsonapi sees the document it is checked
// here, because google/jsonapi ignores unknown attributes and reports type
// mistakes without saying where. wantID "" means the client must not choose
// the id (403); otherwise the document's id must equal it (409 if not).
//
// Problems with single attributes (unknown, read-only, wrong JSON type) do
// not stop the decoding: they are returned apart, and the other attributes
// are decoded, so that the caller can report every problem at once.
func decodeDocument(c echo.Context, sh shape, wantID string, dst any) (apitoken.Errors, error) {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, apitoken.Errorf(apitoken.Invalid, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, apitoken.Errorf(apitoken.Invalid, "The request body is empty; it must be a JSON:API document. (Lists are read with GET.)")
	}
	attrs, attrErrs, err := checkDocument(body, sh, wantID)
	if err != nil {
		return nil, err
	}
	// google/jsonapi decodes the checked resource: its type, its id and
	// the attributes that passed.
	clean, err := json.Marshal(map[string]any{"data": map[string]any{"type": sh.typ, "id": wantID, "attributes": attrs}})
	if err == nil {
		err = jsonapi.UnmarshalPayload(bytes.NewReader(clean), dst)
	}
	if err != nil {
		return nil, &apitoken.Error{Code: apitoken.Invalid, Pointer: "/data", Detail: "The resource object could not be read.", Err: err}
	}
	return attrErrs, nil
}

// checkDocument checks the document's structure and returns its usable
// attributes and the problems with the others.
func checkDocument(body []byte, sh shape, wantID string) (map[string]json.RawMessage, apitoken.Errors, error) {
	if err := strictJSON(body); err != nil {
		return nil, nil, err
	}
	var doc map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, nil, apitoken.Errorf(apitoken.Invalid, "The request body is not a JSON object.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, apitoken.Errorf(apitoken.Invalid, "The request body has data after the JSON document.")
	}
	var errs apitoken.Errors
	invalid := func(ptr, format string, args ...any) {
		errs = append(errs, &apitoken.Error{Code: apitoken.Invalid, Pointer: ptr, Detail: fmt.Sprintf(format, args...)})
	}
	for k := range doc {
		if k != "data" && k != "meta" && k != "jsonapi" {
			invalid("/"+escape(k), "The top-level member %q is not allowed in this request.", k)
		}
	}
	raw, ok := doc["data"]
	if !ok {
		invalid("/data", "The document must have a data member holding a resource object.")
		return nil, nil, sorted(errs)
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(raw, &data) != nil || data == nil {
		invalid("/data", "data must be a resource object.")
		return nil, nil, sorted(errs)
	}
	for k := range data {
		switch k {
		case "type", "id", "attributes", "relationships", "meta", "links":
		default:
			invalid("/data/"+escape(k), "The member %q is not allowed in a resource object.", k)
		}
	}

	var typ string
	if t, ok := data["type"]; !ok {
		invalid("/data/type", "type is required.")
	} else if json.Unmarshal(t, &typ) != nil {
		invalid("/data/type", "type must be a string.")
	} else if typ != sh.typ {
		return nil, nil, &apitoken.Error{Code: apitoken.Conflict, Pointer: "/data/type",
			Detail: fmt.Sprintf("This endpoint takes %q resources, not %q.", sh.typ, typ)}
	}

	idRaw, hasID := data["id"]
	var id string
	switch {
	case wantID == "" && hasID:
		return nil, nil, &apitoken.Error{Code: apitoken.Forbidden, Pointer: "/data/id",
			Detail: "tokend chooses resource ids; a new resource must not have one."}
	case wantID != "" && !hasID:
		invalid("/data/id", "id is required.")
	case wantID != "" && json.Unmarshal(idRaw, &id) != nil:
		invalid("/data/id", "id must be a string.")
	case wantID != "" && id != wantID:
		return nil, nil, &apitoken.Error{Code: apitoken.Conflict, Pointer: "/data/id",
			Detail: fmt.Sprintf("The id %q does not match the resource at this path.", id)}
	}

	if _, ok := data["relationships"]; ok {
		return nil, nil, &apitoken.Error{Code: apitoken.Forbidden, Pointer: "/data/relationships",
			Detail: fmt.Sprintf("A %s's relationships cannot be set.", sh.typ)}
	}

	attrs := map[string]json.RawMessage{}
	if a, ok := data["attributes"]; ok && json.Unmarshal(a, &attrs) != nil {
		invalid("/data/attributes", "attributes must be an object.")
	}
	if len(errs) > 0 {
		return nil, nil, sorted(errs)
	}

	var attrErrs apitoken.Errors
	for name, v := range attrs {
		kind, ok := sh.attrs[name]
		var problems apitoken.Errors
		switch {
		case !ok && slices.Contains(sh.readOnly, name):
			problems = apitoken.Errors{apitoken.FieldErrorf(escape(name), "%s is read-only.", name)}
		case !ok:
			problems = apitoken.Errors{apitoken.FieldErrorf(escape(name), "%q is not an attribute of %s.", name, sh.typ)}
		case string(v) != "null":
			problems = checkKind(name, kind, v)
		}
		if len(problems) > 0 {
			attrErrs = append(attrErrs, problems...)
			delete(attrs, name)
		}
	}
	return attrs, sorted(attrErrs), nil
}

// sorted orders errors by where they point; documents are read from maps,
// and clients deserve a stable order.
func sorted(errs apitoken.Errors) apitoken.Errors {
	slices.SortStableFunc(errs, func(a, b *apitoken.Error) int {
		return strings.Compare(pointer(a), pointer(b))
	})
	return errs
}

// withAttributeErrors returns the attribute problems found while decoding
// together with those validation found in the other attributes, so that the
// client learns every problem at once. Validation's complaints about an
// attribute decoding already refused (typically "is required") are dropped.
func withAttributeErrors(attrErrs apitoken.Errors, validation error) error {
	refused := map[string]bool{}
	for _, e := range attrErrs {
		refused[attribute(e.Field)] = true
	}
	all := slices.Clone(attrErrs)
	if validation != nil {
		for _, e := range apitoken.ErrorList(validation) {
			if e.Code == apitoken.Invalid && !refused[attribute(e.Field)] {
				all = append(all, e)
			}
		}
	}
	return sorted(all)
}

// attribute returns the attribute a field pointer starts with.
func attribute(field string) string {
	name, _, _ := strings.Cut(field, "/")
	return name
}

func checkKind(name string, kind attrKind, v json.RawMessage) apitoken.Errors {
	field := escape(name)
	bad := func(field, format string, args ...any) apitoken.Errors {
		return apitoken.Errors{apitoken.FieldErrorf(field, format, args...)}
	}
	switch kind {
	case kindString:
		var s string
		if json.Unmarshal(v, &s) != nil {
			return bad(field, "%s must be a string.", name)
		}
	case kindBool:
		var b bool
		if json.Unmarshal(v, &b) != nil {
			return bad(field, "%s must be true or false.", name)
		}
	case kindStrings:
		var items []string
		if json.Unmarshal(v, &items) != nil {
			return bad(field, "%s must be an array of strings.", name)
		}
	case kindResources:
		var items []map[string]json.RawMessage
		if json.Unmarshal(v, &items) != nil {
			return bad(field, `%s must be an array of {"type": "...", "ids": ["..."]} objects.`, name)
		}
		var errs apitoken.Errors
		for i, item := range items {
			at := fmt.Sprintf("%s/%d", field, i)
			if item == nil {
				errs = append(errs, bad(at, `Each resource must be a {"type": "...", "ids": ["..."]} object.`)...)
				continue
			}
			for k := range item {
				if k != "type" && k != "ids" {
					errs = append(errs, bad(at+"/"+escape(k), "%q is not a member of a resource restriction.", k)...)
				}
			}
			var s string
			if json.Unmarshal(item["type"], &s) != nil {
				errs = append(errs, bad(at+"/type", "type must be a string.")...)
			}
			var ids []string
			if json.Unmarshal(item["ids"], &ids) != nil || ids == nil {
				errs = append(errs, bad(at+"/ids", "ids must be an array of strings.")...)
			}
		}
		return errs
	}
	return nil
}

// escape escapes a member name for a JSON pointer (RFC 6901).
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
