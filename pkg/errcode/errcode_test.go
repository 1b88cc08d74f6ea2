package errcode_test

import (
	"net/http"
	"testing"

	"github.com/tokend/tokend/pkg/errcode"
)

var all = []errcode.Code{
	errcode.Invalid, errcode.Unauthorized, errcode.Forbidden, errcode.NotFound,
	errcode.MethodNotAllowed, errcode.Conflict, errcode.Unprocessable, errcode.UnsupportedMediaType,
	errcode.NotAcceptable, errcode.PayloadTooLarge, errcode.RateLimited,
	errcode.Unavailable, errcode.Internal,
}

func TestEveryCodeHasItsOwnStatus(t *testing.T) {
	seen := map[int]errcode.Code{}
	for _, c := range all {
		m, ok := errcode.Lookup(c)
		if !ok {
			t.Fatalf("%s is not in the table", c)
		}
		if prev, dup := seen[m.Status]; dup {
			t.Errorf("%s and %s share status %d", prev, c, m.Status)
		}
		seen[m.Status] = c
		if back, ok := errcode.ForStatus(m.Status); !ok || back != c {
			t.Errorf("ForStatus(%d) = %q, %v; want %q", m.Status, back, ok, c)
		}
		if m.Title == "" || m.Exit <= errcode.ExitUsage-1 || m.Exit > 125 {
			t.Errorf("%s: title %q, exit %d", c, m.Title, m.Exit)
		}
	}
}

func TestAnUnknownCodeMeansInternal(t *testing.T) {
	if _, ok := errcode.Lookup("no_such_code"); ok {
		t.Fatal("an unknown code was found")
	}
	if got := errcode.Code("no_such_code").Status(); got != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", got)
	}
	if _, ok := errcode.ForStatus(http.StatusTeapot); ok {
		t.Error("ForStatus(418) found a code")
	}
}

func TestStatusesMatchSPEC(t *testing.T) {
	for c, want := range map[errcode.Code]int{
		errcode.Invalid: 400, errcode.Unauthorized: 401, errcode.Forbidden: 403, errcode.NotFound: 404,
		errcode.Conflict: 409, errcode.Unprocessable: 422, errcode.PayloadTooLarge: 413, errcode.UnsupportedMediaType: 415,
		errcode.NotAcceptable: 406, errcode.RateLimited: 429, errcode.Unavailable: 503, errcode.Internal: 500,
	} {
		if got := c.Status(); got != want {
			t.Errorf("%s: status %d, want %d", c, got, want)
		}
	}
}
