package httpapi

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/google/jsonapi"
	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/service"
)

// Pagination limits, after Unit's convention.
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
	maxPageOffset    = 1 << 30
)

// listParams are a list request's query parameters, checked.
type listParams struct {
	limit, offset int
	newest        bool
	statuses      []apitoken.Status
	userID        string
	// keep holds the filter and sort parameters to repeat in links.
	keep url.Values
}

// listOptions says which optional parameters a list endpoint takes.
type listOptions struct {
	sort, statusFilter, userFilter bool
}

// parseList checks a list request's query string. Unknown parameters, and
// parameters given twice, are errors: silently ignoring a misspelled filter
// would return more than the client asked for.
func parseList(c echo.Context, opt listOptions) (listParams, error) {
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return listParams{}, apitoken.Errorf(apitoken.Invalid, "The query string is malformed.")
	}
	p := listParams{limit: defaultPageLimit, keep: url.Values{}}
	var errs apitoken.Errors
	bad := func(param, format string, args ...any) {
		errs = append(errs, &apitoken.Error{Code: apitoken.Invalid, Parameter: param, Detail: fmt.Sprintf(format, args...)})
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		values := q[name]
		if len(values) > 1 {
			bad(name, "%s is given more than once.", name)
			continue
		}
		v := values[0]
		switch {
		case name == "page[limit]":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxPageLimit {
				bad(name, "page[limit] must be a whole number from 1 to %d.", maxPageLimit)
			}
			p.limit = n
		case name == "page[offset]":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > maxPageOffset {
				bad(name, "page[offset] must be a whole number from 0 to %d.", maxPageOffset)
			}
			p.offset = n
		case name == "sort" && opt.sort:
			if v != "createdAt" && v != "-createdAt" {
				bad(name, "sort must be createdAt or -createdAt.")
			}
			p.newest = v == "-createdAt"
			p.keep.Set(name, v)
		case name == "filter[status]" && opt.statusFilter:
			for _, st := range strings.Split(v, ",") {
				if !slices.Contains(apitoken.Statuses, apitoken.Status(st)) {
					bad(name, "filter[status] must list statuses from active, expired, disabled and revoked, separated by commas.")
					break
				}
				if !slices.Contains(p.statuses, apitoken.Status(st)) {
					p.statuses = append(p.statuses, apitoken.Status(st))
				}
			}
			p.keep.Set(name, v)
		case name == "filter[userId]" && opt.userFilter:
			if !service.ValidID(v) {
				bad(name, "filter[userId] must be a user id.")
			}
			p.userID = v
			p.keep.Set(name, v)
		default:
			bad(name, "%q is not a query parameter of this endpoint.", name)
		}
	}
	return p, errs.Err()
}

// noQuery refuses any query parameter on endpoints that take none.
func noQuery(c echo.Context) error {
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return apitoken.Errorf(apitoken.Invalid, "The query string is malformed.")
	}
	var errs apitoken.Errors
	for name := range q {
		errs = append(errs, &apitoken.Error{Code: apitoken.Invalid, Parameter: name,
			Detail: fmt.Sprintf("%q is not a query parameter of this endpoint.", name)})
	}
	slices.SortFunc(errs, func(a, b *apitoken.Error) int { return strings.Compare(a.Parameter, b.Parameter) })
	return errs.Err()
}

// pageLinks returns a list page's links (self, first, prev, next, last) and
// its meta.pagination.
func (s *Server) pageLinks(c echo.Context, p listParams, total int64) (*jsonapi.Links, *jsonapi.Meta) {
	base := s.baseURL(c) + c.Request().URL.EscapedPath()
	at := func(offset int) string {
		q := url.Values{}
		for k, v := range p.keep {
			q[k] = v
		}
		q.Set("page[limit]", strconv.Itoa(p.limit))
		q.Set("page[offset]", strconv.Itoa(offset))
		return base + "?" + q.Encode()
	}
	last := 0
	if total > 0 {
		last = int((total - 1) / int64(p.limit) * int64(p.limit))
	}
	links := jsonapi.Links{"self": at(p.offset), "first": at(0), "last": at(last), "prev": nil, "next": nil}
	if p.offset > 0 {
		// The page before this one; past the end, that is the last page.
		links["prev"] = at(max(min(p.offset-p.limit, last), 0))
	}
	if int64(p.offset+p.limit) < total {
		links["next"] = at(p.offset + p.limit)
	}
	meta := jsonapi.Meta{"pagination": map[string]any{"limit": p.limit, "offset": p.offset, "total": total}}
	return &links, &meta
}
