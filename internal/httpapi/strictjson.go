package httpapi

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/tokend/tokend/internal/apitoken"
)

// strictJSON finds in a JSON text what encoding/json lets through silently:
// bytes that are not UTF-8 (it reads them as U+FFFD) and a member name
// repeated in one object (it keeps the last value). Either makes a document
// mean different things to different readers, so tokend refuses it. It
// returns the first such problem with a pointer to where it is, or nil;
// syntax errors are left to the decoder.
func strictJSON(body []byte) *apitoken.Error {
	bad := invalidUTF8At(body)
	type frame struct {
		object  bool
		wantKey bool
		keys    map[string]bool
		key     string // the member being read, in an object
		index   int    // the element being read, in an array
	}
	var stack []*frame
	pointer := func() string {
		var b []byte
		for _, f := range stack {
			b = append(b, '/')
			if f.object {
				b = append(b, escape(f.key)...)
			} else {
				b = strconv.AppendInt(b, int64(f.index), 10)
			}
		}
		return string(b)
	}
	// valueDone moves the innermost container past the value just read.
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		if top := stack[len(stack)-1]; top.object {
			top.wantKey = true
		} else {
			top.index++
		}
	}
	invalid := func(detail string) *apitoken.Error {
		return &apitoken.Error{Code: apitoken.Invalid, Pointer: pointer(), Detail: detail}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		holdsBad := bad >= int(start) && bad < int(dec.InputOffset())
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			top := stack[n-1]
			top.key, top.wantKey = tok.(string), false
			if holdsBad {
				return invalid("This member name is not valid UTF-8.")
			}
			if top.keys[top.key] {
				return invalid("This member name appears twice in its object; a document must not repeat a member name.")
			}
			top.keys[top.key] = true
			continue
		}
		if holdsBad {
			return invalid("This value is not valid UTF-8.")
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, wantKey: true, keys: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// invalidUTF8At returns the offset of the first byte of b that is not
// part of a UTF-8 encoding, or -1.
func invalidUTF8At(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}
