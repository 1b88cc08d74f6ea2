package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/jsonapi"
	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
)

// errorTable maps every application error code to its HTTP status and its
// JSON:API title. It is the only place codes meet statuses.
var errorTable = map[apitoken.Code]struct {
	status int
	title  string
}{
	apitoken.Invalid:              {http.StatusBadRequest, "Invalid value"},
	apitoken.Unauthorized:         {http.StatusUnauthorized, "Unauthorized"},
	apitoken.Forbidden:            {http.StatusForbidden, "Forbidden"},
	apitoken.NotFound:             {http.StatusNotFound, "Not found"},
	apitoken.MethodNotAllowed:     {http.StatusMethodNotAllowed, "Method not allowed"},
	apitoken.NotAcceptable:        {http.StatusNotAcceptable, "Not acceptable"},
	apitoken.Conflict:             {http.StatusConflict, "Conflict"},
	apitoken.PayloadTooLarge:      {http.StatusRequestEntityTooLarge, "Payload too large"},
	apitoken.UnsupportedMediaType: {http.StatusUnsupportedMediaType, "Unsupported media type"},
	apitoken.RateLimited:          {http.StatusTooManyRequests, "Too many requests"},
	apitoken.Internal:             {http.StatusInternalServerError, "Internal error"},
	apitoken.Unavailable:          {http.StatusServiceUnavailable, "Service unavailable"},
}

// echoCodes translates the errors Echo itself raises (no route, wrong
// method, body too large) into application codes.
var echoCodes = map[int]apitoken.Code{
	http.StatusBadRequest:            apitoken.Invalid,
	http.StatusUnauthorized:          apitoken.Unauthorized,
	http.StatusForbidden:             apitoken.Forbidden,
	http.StatusNotFound:              apitoken.NotFound,
	http.StatusMethodNotAllowed:      apitoken.MethodNotAllowed,
	http.StatusRequestEntityTooLarge: apitoken.PayloadTooLarge,
	http.StatusUnsupportedMediaType:  apitoken.UnsupportedMediaType,
	http.StatusTooManyRequests:       apitoken.RateLimited,
	http.StatusServiceUnavailable:    apitoken.Unavailable,
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
}

// handleError is Echo's error handler: it turns any error a handler or
// middleware returns into a JSON:API error document.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	list := s.applicationErrors(err)
	status := statusFor(list)
	s.logErrors(c, list)

	h := c.Response().Header()
	// A 403 about the request document (a client-chosen id, relationships)
	// is not about the token, and gets no challenge.
	if status == http.StatusUnauthorized || (status == http.StatusForbidden && list[0].Pointer == "") {
		h.Set("WWW-Authenticate", challenge(c.Request(), status, list[0]))
	}
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "5")
	}
	if c.Request().Method == http.MethodHead {
		h.Set("Content-Type", mediaType)
		c.Response().WriteHeader(status)
		return
	}
	doc := errorDocument{}
	seen := map[string]bool{}
	for _, e := range list {
		obj := &errorObject{ErrorObject: jsonapi.ErrorObject{
			Status: strconv.Itoa(errorTable[e.Code].status),
			Code:   string(e.Code),
			Title:  errorTable[e.Code].title,
			Detail: e.Detail,
		}}
		if ptr := pointer(e); ptr != "" || e.Parameter != "" {
			obj.Source = &errorSource{Pointer: ptr, Parameter: e.Parameter}
		}
		// JSON:API requires the errors to be unique.
		key := strings.Join([]string{obj.Code, obj.Detail, pointer(e), e.Parameter}, "\x00")
		if !seen[key] {
			seen[key] = true
			doc.Errors = append(doc.Errors, obj)
		}
	}
	if err := writeJSON(c, status, mediaType, doc); err != nil {
		s.log.Warn("write error response", "err", err)
	}
}

// applicationErrors converts any error into application errors.
func (s *Server) applicationErrors(err error) apitoken.Errors {
	var he *echo.HTTPError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return apitoken.Errors{apitoken.Errorf(apitoken.PayloadTooLarge,
			"The request body is larger than %d bytes.", tooLarge.Limit)}
	case errors.As(err, &he):
		code, ok := echoCodes[he.Code]
		if !ok {
			code = apitoken.Internal
		}
		detail := http.StatusText(he.Code) + "."
		switch he.Code {
		case http.StatusNotFound:
			detail = "There is no resource at this path."
		case http.StatusMethodNotAllowed:
			detail = "This resource does not support the method."
		}
		return apitoken.Errors{{Code: code, Detail: detail, Err: he.Internal}}
	case errors.Is(err, context.DeadlineExceeded):
		return apitoken.Errors{{Code: apitoken.Unavailable, Detail: "The request took too long; try again shortly.", Err: err}}
	}
	list := apitoken.ErrorList(err)
	for _, e := range list {
		if _, ok := errorTable[e.Code]; !ok {
			e.Code = apitoken.Internal
		}
		if e.Code == apitoken.Internal {
			e.Detail = "Internal error."
		}
	}
	return list
}

// statusFor returns the status of a response carrying the errors: theirs
// if they agree, otherwise the most generally applicable one.
func statusFor(list apitoken.Errors) int {
	status := errorTable[list[0].Code].status
	for _, e := range list[1:] {
		if s := errorTable[e.Code].status; s != status {
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
func challenge(r *http.Request, status int, e *apitoken.Error) string {
	if status == http.StatusForbidden {
		c := `Bearer realm="tokend", error="insufficient_scope"`
		if e.Scope != "" {
			c += fmt.Sprintf(`, scope=%q`, quotable(e.Scope))
		}
		return c + fmt.Sprintf(`, error_description=%q`, quotable(e.Detail))
	}
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "bearer ") {
		return `Bearer realm="tokend"`
	}
	return fmt.Sprintf(`Bearer realm="tokend", error="invalid_token", error_description=%q`, quotable(e.Detail))
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
func (s *Server) logErrors(c echo.Context, list apitoken.Errors) {
	for _, e := range list {
		level := slog.LevelError
		switch {
		case errors.Is(ctx(c).Err(), context.Canceled):
			level = slog.LevelDebug
		case e.Code == apitoken.Internal:
		case e.Code == apitoken.Unavailable:
			level = slog.LevelWarn
		default:
			continue
		}
		s.log.Log(c.Request().Context(), level, string(e.Code), "request_id", requestID(c), "err", e.Err)
		return
	}
}
