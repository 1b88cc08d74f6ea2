package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/jsonapi"
	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/ratelimit"
	"github.com/tokend/tokend/pkg/errcode"
)

// problem is one error of a response, whatever raised it: the domain (an
// apitoken.Error), the HTTP layer itself (a requestError) or Echo. Its code
// means, in errcode's one table, the status and title it gets.
type problem struct {
	code       errcode.Code
	detail     string
	pointer    string        // a JSON pointer into the request document
	parameter  string        // the query parameter at fault
	scope      string        // the scopes a forbidden request needed
	retryAfter time.Duration // when to try again, for a rate limit
	err        error         // the cause, logged, never shown
}

// requestError is a problem with a request as HTTP carries it (its media
// types, its size, its method), which the domain knows nothing of.
type requestError struct {
	code       errcode.Code
	detail     string
	retryAfter time.Duration // when to try again, for a rate limit
}

func (e *requestError) Error() string { return string(e.code) + ": " + e.detail }

// requestErrorf returns a requestError with a formatted detail.
func requestErrorf(code errcode.Code, format string, args ...any) error {
	return &requestError{code: code, detail: fmt.Sprintf(format, args...)}
}

// rateLimitedf returns the refusal of a rate limit: 429, with a
// Retry-After of retry.
func rateLimitedf(retry time.Duration, format string, args ...any) error {
	return &requestError{code: errcode.RateLimited, detail: fmt.Sprintf(format, args...), retryAfter: retry}
}

// errorObject is a JSON:API error object. google/jsonapi's ErrorObject has
// no source member, so it is added here.
type errorObject struct {
	jsonapi.ErrorObject
	Source *errorSource `json:"source,omitempty"`
}

type errorSource struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
}

type errorDocument struct {
	Errors []*errorObject `json:"errors"`
	Meta   *errorsMeta    `json:"meta,omitempty"`
}

// errorsMeta says how many errors a document left out.
type errorsMeta struct {
	TotalErrors int `json:"totalErrors"`
	ShownErrors int `json:"shownErrors"`
}

// maxErrors is the most error objects a response lists: enough for every
// problem a real client makes at once, and a bound on what a document
// with thousands of bad members costs to answer.
const maxErrors = 20

// handleError is Echo's error handler: it turns any error a handler or
// middleware returns into a JSON:API error document.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	list := problems(err)
	status := statusFor(list)
	s.logErrors(c, list)
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		exchangeOf(c).refusal = list[0].detail
	}

	h := c.Response().Header()
	// A 403 about the request document (a client-chosen id, relationships)
	// is not about the token, and gets no challenge.
	if status == http.StatusUnauthorized || (status == http.StatusForbidden && list[0].pointer == "") {
		h.Set("WWW-Authenticate", challenge(c.Request(), status, list[0]))
	}
	switch {
	case status == http.StatusServiceUnavailable:
		h.Set("Retry-After", "5")
	case list[0].retryAfter > 0:
		h.Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(list[0].retryAfter)))
	}
	if c.Request().Method == http.MethodHead {
		h.Set("Content-Type", mediaType)
		c.Response().WriteHeader(status)
		return
	}
	doc := errorDocument{}
	seen := map[string]bool{}
	for _, p := range list {
		obj := &errorObject{ErrorObject: jsonapi.ErrorObject{
			Status: strconv.Itoa(p.code.Status()),
			Code:   string(p.code),
			Title:  p.code.Title(),
			Detail: p.detail,
		}}
		if p.pointer != "" || p.parameter != "" {
			obj.Source = &errorSource{Pointer: p.pointer, Parameter: p.parameter}
		}
		// JSON:API requires the errors to be unique.
		key := strings.Join([]string{obj.Code, obj.Detail, p.pointer, p.parameter}, "\x00")
		if !seen[key] {
			seen[key] = true
			doc.Errors = append(doc.Errors, obj)
		}
	}
	if n := len(doc.Errors); n > maxErrors {
		doc.Errors = doc.Errors[:maxErrors]
		doc.Meta = &errorsMeta{TotalErrors: n, ShownErrors: maxErrors}
	}
	if err := writeJSON(c, status, mediaType, doc); err != nil {
		s.log.Warn("write error response", "err", err)
	}
}

// problems converts any error into the problems of a response. Anything
// that is neither an application error nor one of the HTTP layer's is
// internal, and shown as no more than that.
func problems(err error) []problem {
	var he *echo.HTTPError
	var tooLarge *http.MaxBytesError
	var re *requestError
	switch {
	case errors.As(err, &tooLarge):
		return []problem{{code: errcode.PayloadTooLarge, detail: fmt.Sprintf("The request body is larger than %d bytes.", tooLarge.Limit)}}
	case errors.As(err, &re):
		return []problem{{code: re.code, detail: re.detail, retryAfter: re.retryAfter}}
	case errors.As(err, &he):
		code, ok := errcode.ForStatus(he.Code)
		if !ok {
			code = errcode.Internal
		}
		detail := http.StatusText(he.Code) + "."
		switch he.Code {
		case http.StatusNotFound:
			detail = "There is no resource at this path."
		case http.StatusMethodNotAllowed:
			detail = "This resource does not support the method."
		}
		return []problem{{code: code, detail: detail, err: he.Internal}}
	case errors.Is(err, context.DeadlineExceeded):
		return []problem{{code: errcode.Unavailable, detail: "The request took too long; try again shortly.", err: err}}
	}
	var list []problem
	for _, e := range apitoken.ErrorList(err) {
		p := problem{code: errcode.Code(e.Code), detail: e.Detail, pointer: pointer(e), parameter: e.Parameter, scope: e.Scope, err: e.Err}
		if _, ok := errcode.Lookup(p.code); !ok || p.code == errcode.Internal {
			p.code, p.detail = errcode.Internal, "Internal error."
		}
		list = append(list, p)
	}
	return list
}

// statusFor returns the status of a response carrying the problems: theirs
// if they agree, otherwise the most generally applicable one.
func statusFor(list []problem) int {
	status := list[0].code.Status()
	for _, p := range list[1:] {
		if s := p.code.Status(); s != status {
			if s < 500 && status < 500 {
				status = http.StatusBadRequest
			} else {
				status = http.StatusInternalServerError
			}
		}
	}
	return status
}

// pointer returns the JSON pointer of an error into the request document.
func pointer(e *apitoken.Error) string {
	if e.Pointer != "" {
		return e.Pointer
	}
	if e.Field != "" {
		return "/data/attributes/" + e.Field
	}
	return ""
}

// challenge returns the RFC 6750 WWW-Authenticate challenge for a 401 or
// 403: invalid_token when a presented token was refused, insufficient_scope
// when a valid token may not do this, with the scope it needed if known.
func challenge(r *http.Request, status int, p problem) string {
	if status == http.StatusForbidden {
		c := `Bearer realm="tokend", error="insufficient_scope"`
		if p.scope != "" {
			c += fmt.Sprintf(`, scope=%q`, quotable(p.scope))
		}
		return c + fmt.Sprintf(`, error_description=%q`, quotable(p.detail))
	}
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "bearer ") {
		return `Bearer realm="tokend"`
	}
	return fmt.Sprintf(`Bearer realm="tokend", error="invalid_token", error_description=%q`, quotable(p.detail))
}

// quotable keeps only characters RFC 6750 allows in error_description.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
}

// logErrors logs the first internal or unavailable error with its cause;
// client errors are already in the access log's status. A request its
// client gave up on is no trouble of tokend's, and is logged at debug level.
func (s *Server) logErrors(c echo.Context, list []problem) {
	for _, p := range list {
		level := slog.LevelError
		switch {
		case errors.Is(ctx(c).Err(), context.Canceled):
			level = slog.LevelDebug
		case p.code == errcode.Internal:
		case p.code == errcode.Unavailable:
			level = slog.LevelWarn
		default:
			continue
		}
		s.log.Log(c.Request().Context(), level, string(p.code), "request_id", requestID(c), "err", p.err)
		return
	}
}
