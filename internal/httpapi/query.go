package httpapi

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/jsonapi"
	"github.com/labstack/echo/v4"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/audit"
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
	// offsetPaging reports a request that gave page[offset]; after and
	// before are the positions of page[after] and page[before].
	offsetPaging  bool
	after, before *apitoken.ListPosition
	// afterCursor and beforeCursor are page[after] and page[before] as
	// given, for the links.
	afterCursor, beforeCursor string
	// cursor reports a list that takes cursors.
	cursor   bool
	newest   bool
	statuses []apitoken.Status
	userID   string
	// inventory holds the inventory filters.
	inventory apitoken.Inventory
	// events holds the filters and positions of audit event lists.
	events audit.Filter
	// keep holds the filter and sort parameters to repeat in links.
	keep url.Values
}

// listOptions says which optional parameters a list endpoint takes.
type listOptions struct {
	// cursor is keyset paging: page[after] and page[before]; inventory
	// the filters of token lists beside the status (inventoryParams).
	cursor, sort, statusFilter, userFilter, inventory bool
	// events is a list of audit events: its cursors are positions in
	// the log, its sort occurredAt, and it takes the filters of
	// eventParams.
	events bool
}

// eventParams are the filters of audit event lists.
var eventParams = []string{"filter[action]", "filter[targetId]", "filter[actorUserId]", "filter[since]", "filter[until]"}

// inventoryParams are the inventory filters of token lists.
var inventoryParams = []string{"filter[expiresBefore]", "filter[lastUsedBefore]", "filter[leaked]", "filter[scope]"}

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
	if opt.cursor {
		allowed = append(allowed, "page[after]", "page[before]")
	}
	if opt.sort {
		allowed = append(allowed, "sort")
	}
	if opt.statusFilter {
		allowed = append(allowed, "filter[status]")
	}
	if opt.userFilter {
		allowed = append(allowed, "filter[userId]")
	}
	if opt.inventory {
		allowed = append(allowed, inventoryParams...)
	}
	if opt.events {
		allowed = append(allowed, eventParams...)
	}
	sortKey := "createdAt"
	if opt.events {
		sortKey = "occurredAt"
	}
	values, errs := queryParams(c, allowed...)
	p := listParams{limit: defaultPageLimit, cursor: opt.cursor, keep: url.Values{}}
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
			p.offset, p.offsetPaging = n, true
		case "page[after]", "page[before]":
			var pos apitoken.ListPosition
			var seq int64
			ok := false
			if opt.events {
				seq, ok = decodeEventCursor(v)
			} else {
				pos, ok = decodeListCursor(v)
			}
			if !ok {
				errs = append(errs, paramError(name, "%s must be a cursor from a list's links.", name))
			}
			if name == "page[after]" {
				p.after, p.afterCursor, p.events.After = &pos, v, &seq
			} else {
				p.before, p.beforeCursor, p.events.Before = &pos, v, &seq
			}
		case "sort":
			if v != sortKey && v != "-"+sortKey {
				errs = append(errs, paramError(name, "sort must be %s or -%s.", sortKey, sortKey))
			}
			p.newest = v == "-"+sortKey
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
		case "filter[action]", "filter[targetId]", "filter[actorUserId]", "filter[since]", "filter[until]":
			if err := setEventFilter(&p.events, name, v); err != nil {
				errs = append(errs, err)
			}
			p.keep.Set(name, v)
		default:
			if err := setInventory(&p.inventory, name, v); err != nil {
				errs = append(errs, err)
			}
			p.keep.Set(name, v)
		}
	}
	p.events.Limit, p.events.Offset, p.events.Newest = p.limit, p.offset, p.newest
	if given := countTrue(p.offsetPaging, p.after != nil, p.before != nil); given > 1 {
		errs = append(errs, paramError("page", "Give at most one of page[offset], page[after] and page[before]."))
	}
	slices.SortStableFunc(errs, func(a, b *apitoken.Error) int { return strings.Compare(a.Parameter, b.Parameter) })
	return p, errs.Err()
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// A list cursor is a token's place in a list, opaque to clients: its
// creation time in Unix milliseconds and its id, base64url-encoded.
func encodeListCursor(p apitoken.ListPosition) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(p.CreatedAt.UnixMilli(), 10) + "." + p.ID))
}

func decodeListCursor(s string) (apitoken.ListPosition, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return apitoken.ListPosition{}, false
	}
	ms, id, ok := strings.Cut(string(b), ".")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || n < 0 || n > maxCursorMillis || !service.ValidID(id) {
		return apitoken.ListPosition{}, false
	}
	return apitoken.ListPosition{CreatedAt: time.UnixMilli(n).UTC(), ID: id}, true
}

// maxCursorMillis is the latest time a cursor may hold, the start of the
// year 10000, past which times have no RFC 3339 form.
const maxCursorMillis = 253402300800000

// pageInfo is what a list page's links are made from.
type pageInfo struct {
	total int64
	// more reports that the list goes on past the page, in its direction.
	more bool
	// first and last are the cursors of the page's first and last
	// resources, in lists with cursors; "" on an empty page.
	first, last string
}

// tokenPageInfo returns the page's pageInfo.
func tokenPageInfo(page *apitoken.TokenPage) pageInfo {
	info := pageInfo{total: page.Total, more: page.More}
	if n := len(page.Tokens); n > 0 {
		info.first = encodeListCursor(apitoken.PositionOf(&page.Tokens[0]))
		info.last = encodeListCursor(apitoken.PositionOf(&page.Tokens[n-1]))
	}
	return info
}

// pageLinks returns a list page's links (self, first, prev, next, and
// last for pages by offset) and its meta.pagination. A request that gave
// page[offset], or one to a list without cursors, pages by offsets, Unit's
// convention; in lists with cursors every other request's next and prev
// links are cursors (page[after], page[before]), which cost the same
// however deep the page. A page after a position has tokens before it, and
// one before a position tokens after it, unless they were deleted since;
// an empty page's neighbours start at the position itself.
func (s *Server) pageLinks(c echo.Context, p listParams, info pageInfo) (*jsonapi.Links, *jsonapi.Meta) {
	base := s.baseURL(c) + c.Request().URL.EscapedPath()
	link := func(name, value string) string {
		q := url.Values{}
		for k, v := range p.keep {
			q[k] = v
		}
		q.Set("page[limit]", strconv.Itoa(p.limit))
		if name != "" {
			q.Set(name, value)
		}
		return base + "?" + q.Encode()
	}
	at := func(offset int) string { return link("page[offset]", strconv.Itoa(offset)) }
	after := func(cursor string) string { return link("page[after]", cursor) }
	before := func(cursor string) string { return link("page[before]", cursor) }
	links := jsonapi.Links{"first": link("", ""), "prev": nil, "next": nil}
	pagination := map[string]any{"limit": p.limit, "total": info.total}
	switch {
	case p.afterCursor != "":
		links["self"], links["prev"] = after(p.afterCursor), before(cmp.Or(info.first, p.afterCursor))
		if info.more {
			links["next"] = after(info.last)
		}
	case p.beforeCursor != "":
		links["self"], links["next"] = before(p.beforeCursor), after(cmp.Or(info.last, p.beforeCursor))
		if info.more {
			links["prev"] = before(info.first)
		}
	default:
		last := 0
		if info.total > 0 {
			last = int((info.total - 1) / int64(p.limit) * int64(p.limit))
		}
		pagination["offset"] = p.offset
		links["self"], links["first"], links["last"] = at(p.offset), at(0), at(last)
		if p.offset > 0 {
			// The page before this one; past the end, that is the last page.
			links["prev"] = at(max(min(p.offset-p.limit, last), 0))
		}
		switch {
		case !info.more:
		case p.cursor && !p.offsetPaging:
			// An empty page has no cursor to go on from: the total counted
			// tokens that have gone since.
			if info.last != "" {
				links["next"] = after(info.last)
			}
		default:
			links["next"] = at(p.offset + p.limit)
		}
	}
	meta := jsonapi.Meta{"pagination": pagination}
	return &links, &meta
}
