// Package apitoken is tokend's domain: users, their API tokens, the scope
// catalog, the rules that validate them, and the application error type that
// every other package reports problems with.
//
// It depends on no storage or transport; the store, the HTTP API and the
// command line all speak in its types.
package apitoken

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies an application error. The codes are the API's, as SPEC
// names them; what each means on the wire (an HTTP status, an exit status)
// is in package errcode's one table, which holds these and the codes only
// a transport raises.
type Code string

// The application error codes.
const (
	Invalid      Code = "invalid_value"
	Unauthorized Code = "unauthorized"
	Forbidden    Code = "forbidden"
	NotFound     Code = "not_found"
	Conflict     Code = "conflict"
	// Unprocessable is a well-formed value tokend refuses for what it
	// leads to, such as a webhook URL that reaches a private address.
	Unprocessable Code = "unprocessable_content"
	RateLimited   Code = "rate_limited"
	Unavailable   Code = "unavailable"
	Internal      Code = "internal"
)

// Codes lists every application error code.
var Codes = []Code{Invalid, Unauthorized, Forbidden, NotFound, Conflict, Unprocessable, RateLimited, Unavailable, Internal}

// Error is an application error: a code, a detail that is safe to show to the
// client, and optionally what in the request it is about.
type Error struct {
	Code   Code
	Detail string
	// Field names the attribute at fault, as a JSON pointer relative to the
	// resource's attributes ("scope", "resources/0/type").
	Field string
	// Pointer is a JSON pointer into the request document, for problems
	// outside the attributes ("/data/type").
	Pointer string
	// Parameter names the query parameter at fault.
	Parameter string
	// Scope, on a forbidden error, lists the scopes the request needed, for
	// an RFC 6750 insufficient_scope challenge.
	Scope string
	// Err is the underlying cause. It is logged, never shown.
	Err error
}

// Errorf returns an application error with a formatted detail.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an invalid_value error about one attribute. The
// detail is a sentence; a final period is added when missing.
func FieldErrorf(field, format string, args ...any) *Error {
	detail := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(detail, ".") {
		detail += "."
	}
	return &Error{Code: Invalid, Field: field, Detail: detail}
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Errors is a list of problems found together, such as every invalid
// attribute of one request.
type Errors []*Error

// Error implements the error interface.
func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the errors of the list, for errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// Err returns nil for an empty list and the list otherwise, so that
// validation can end with "return errs.Err()".
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// ErrorList returns the application errors in err: the list itself, the one
// error, or a single internal error for anything else.
func ErrorList(err error) Errors {
	var list Errors
	if errors.As(err, &list) {
		return list
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}
	}
	return Errors{{Code: Internal, Detail: "Internal error.", Err: err}}
}

// ErrorCode returns the code of an application error, Internal for any
// other error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	return ErrorList(err)[0].Code
}
