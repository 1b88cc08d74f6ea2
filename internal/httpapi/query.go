package httpapi

import (
	"fmt"
	"maps"
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

// queryParams checks a request's query string against the parameters an
// endpoint takes and returns their values. Unknown parameters, and
// parameters given twice, are errors, reported together in name order:
// silently ignoring a misspelled filter would return more than the client
// asked for.
func queryParams(c echo.Context, allowed ...string) (map[string]string, apitoken.Errors) {
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return nil, apitoken.Errors{apitoken.Errorf(apitoken.Invalid, "The query string is malformed.")}
	}
	names := slices.Sorted(maps.Keys(q))
	values := map[string]string{}
	var errs apitoken.Errors
	for _, name := range names {
		switch {
		case !slices.Contains(allowed, name):
			errs = append(errs, paramError(name, "%q is not a query parameter of this endpoint.", name))
		case len(q[name]) > 1:
			errs = append(errs, paramError(name, "%s is given more than once.", name))
		default:
			values[name] = q[name][0]
		}
	}
	return values, errs
}

func paramError(name, format string, args ...any) *apitoken.Error {
	return &apitoken.Error{Code: apitoken.Invalid, Parameter: name, Detail: fmt.Sprintf(format, args...)}
}

// noQuery refuses any query parameter on endpoints that take none.
func noQuery(c echo.Context) error {
	_, errs := queryParams(c)
	return errs.Err()
}

// parseList checks a list request's query string: the page parameters,
// and the sort and filters the endpoint takes.
func parseList(c echo.Context, opt listOptions) (listParams, error) {
	allowed := []string{"page[limit]", "page[offset]"}
	if opt.sort {
		allowed = append(allowed, "sort")
	}
	if opt.statusFilter {
		allowed = append(allowed, "filter[status]")
	}
	if opt.userFilter {
		allowed = append(allowed, "filter[userId]")
	}
	values, errs := queryParams(c, allowed...)
	p := listParams{limit: defaultPageLimit, keep: url.Values{}}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		v := values[name]
		switch name {
		case "page[limit]":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxPageLimit {
				errs = append(errs, paramError(name, "page[limit] must be a whole number from 1 to %d.", maxPageLimit))
			}
			p.limit = n
		case "page[offset]":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > maxPageOffset {
				errs = append(errs, paramError(name, "page[offset] must be a whole number from 0 to %d.", maxPageOffset))
			}
			p.offset = n
		case "sort":
			if v != "createdAt" && v != "-createdAt" {
				errs = append(errs, paramError(name, "sort must be createdAt or -createdAt."))
			}
			p.newest = v == "-createdAt"
			p.keep.Set(name, v)
		case "filter[status]":
			for _, st := range strings.Split(v, ",") {
				if !slices.Contains(apitoken.Statuses, apitoken.Status(st)) {
					errs = append(errs, paramError(name, "filter[status] must list statuses from active, expired, disabled and revoked, separated by commas."))
					break
				}
				if !slices.Contains(p.statuses, apitoken.Status(st)) {
					p.statuses = append(p.statuses, apitoken.Status(st))
				}
			}
			p.keep.Set(name, v)
		case "filter[userId]":
			if !service.ValidID(v) {
				errs = append(errs, paramError(name, "filter[userId] must be a user id."))
			}
			p.userID = v
			p.keep.Set(name, v)
		}
	}
	slices.SortStableFunc(errs, func(a, b *apitoken.Error) int { return strings.Compare(a.Parameter, b.Parameter) })
	return p, errs.Err()
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
