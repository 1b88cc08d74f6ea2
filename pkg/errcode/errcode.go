// Package errcode lists the error codes of tokend's API, as SPEC fixes them,
// and what each one means on the wire: its HTTP status and title, and the
// exit status of a command that failed with it.
//
// It is the one table from codes to statuses. tokend's HTTP API, the
// verifier middleware downstream services use, and the command line all
// read it, so a code means the same thing wherever it appears.
package errcode

import "net/http"

// Code is the machine-readable code of an error, shown to clients in the
// code member of a JSON:API error object.
type Code string

// The codes.
const (
	Invalid              Code = "invalid_value"
	Unauthorized         Code = "unauthorized"
	Forbidden            Code = "forbidden"
	NotFound             Code = "not_found"
	MethodNotAllowed     Code = "method_not_allowed"
	Conflict             Code = "conflict"
	Unprocessable        Code = "unprocessable_content"
	UnsupportedMediaType Code = "unsupported_media_type"
	NotAcceptable        Code = "not_acceptable"
	PayloadTooLarge      Code = "payload_too_large"
	RateLimited          Code = "rate_limited"
	Unavailable          Code = "unavailable"
	Internal             Code = "internal"
)

// Meaning is what a code stands for on the wire.
type Meaning struct {
	// Status is the HTTP status of a response carrying the code.
	Status int
	// Title is the JSON:API error title: short, the same for every
	// occurrence of the code.
	Title string
	// Exit is the exit status of a command that failed with the code;
	// the values follow BSD's sysexits.h.
	Exit int
}

// Exit statuses beyond those of the codes.
const (
	// ExitUsage is the exit status of a command line that cannot be run,
	// as the flag package's commands use.
	ExitUsage = 2
)

var table = map[Code]Meaning{
	Invalid:              {http.StatusBadRequest, "Invalid value", 65},                    // EX_DATAERR
	Unauthorized:         {http.StatusUnauthorized, "Unauthorized", 77},                   // EX_NOPERM
	Forbidden:            {http.StatusForbidden, "Forbidden", 77},                         // EX_NOPERM
	NotFound:             {http.StatusNotFound, "Not found", 66},                          // EX_NOINPUT
	MethodNotAllowed:     {http.StatusMethodNotAllowed, "Method not allowed", 64},         // EX_USAGE
	Conflict:             {http.StatusConflict, "Conflict", 65},                           // EX_DATAERR
	Unprocessable:        {http.StatusUnprocessableEntity, "Unprocessable content", 65},   // EX_DATAERR
	UnsupportedMediaType: {http.StatusUnsupportedMediaType, "Unsupported media type", 64}, // EX_USAGE
	NotAcceptable:        {http.StatusNotAcceptable, "Not acceptable", 64},                // EX_USAGE
	PayloadTooLarge:      {http.StatusRequestEntityTooLarge, "Payload too large", 65},     // EX_DATAERR
	RateLimited:          {http.StatusTooManyRequests, "Too many requests", 75},           // EX_TEMPFAIL
	Unavailable:          {http.StatusServiceUnavailable, "Service unavailable", 69},      // EX_UNAVAILABLE
	Internal:             {http.StatusInternalServerError, "Internal error", 70},          // EX_SOFTWARE
}

// Lookup returns the meaning of a code, and whether the code is one of
// the table's. An unknown code means what Internal means.
func Lookup(c Code) (Meaning, bool) {
	m, ok := table[c]
	if !ok {
		return table[Internal], false
	}
	return m, true
}

// Status returns the HTTP status of a code; Internal's for an unknown code.
func (c Code) Status() int { m, _ := Lookup(c); return m.Status }

// Title returns the JSON:API title of a code.
func (c Code) Title() string { m, _ := Lookup(c); return m.Title }

// Exit returns the exit status of a command that failed with the code.
func (c Code) Exit() int { m, _ := Lookup(c); return m.Exit }

// ForStatus returns the code an HTTP status stands for, such as a status
// an HTTP framework chose itself, and whether there is one.
func ForStatus(status int) (Code, bool) {
	for c, m := range table { // statuses are unique in the table
		if m.Status == status {
			return c, true
		}
	}
	return "", false
}
