package apitoken_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
)

// now is the fixed clock of the validation tests.
var now = time.Date(2026, 7, 1, 13, 47, 17, 0, time.UTC)

const maxLifetime = 366 * 24 * time.Hour

func testPolicy(tb testing.TB) apitoken.Policy {
	tb.Helper()
	return apitoken.Policy{
		Catalog:     MustParseCatalog(tb, "customers\napplications\naccounts\n"),
		MaxLifetime: maxLifetime,
		Now:         now,
	}
}

func ptr[T any](v T) *T { return &v }

// validTokenRequest is Unit's example create request, with a resource.
func validTokenRequest() apitoken.TokenRequest {
	return apitoken.TokenRequest{
		Description: ptr("Production token"),
		Scope:       ptr("customers applications"),
		Expiration:  ptr("2027-01-01T00:00:00.000Z"),
		SourceIP:    ptr("192.168.1.1,10.0.0.0/8"),
		Resources:   []apitoken.Resource{{Type: "account", IDs: []string{"1", "10001"}}},
	}
}

func TestTokenRequestValidateAcceptsAValidRequest(t *testing.T) {
	spec, err := validTokenRequest().Validate(testPolicy(t))
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := apitoken.TokenSpec{
		Description: "Production token",
		Scope:       "customers applications",
		Scopes:      []string{"customers", "applications"},
		Expiration:  time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		SourceIP:    "192.168.1.1,10.0.0.0/8",
		Resources:   []apitoken.Resource{{Type: "account", IDs: []string{"1", "10001"}}},
	}
	if !reflect.DeepEqual(spec, want) {
		t.Fatalf("Validate =\n%+v\nwant\n%+v", spec, want)
	}
}

func TestTokenRequestValidateOptionalAttributes(t *testing.T) {
	req := validTokenRequest()
	req.SourceIP, req.Resources = nil, nil
	spec, err := req.Validate(testPolicy(t))
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if spec.SourceIP != "" || spec.Resources != nil {
		t.Fatalf("absent sourceIp and resources gave %q and %v, want none", spec.SourceIP, spec.Resources)
	}

	req.Resources = []apitoken.Resource{}
	if spec, err = req.Validate(testPolicy(t)); err != nil || spec.Resources != nil {
		t.Fatalf("an empty resources list gave %v, %v; want no restriction", spec.Resources, err)
	}
}

func TestTokenRequestValidateExpiration(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Time
	}{
		{"an expiration is converted to UTC", "2027-01-01T02:00:00+02:00", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"an expiration without fractional seconds is accepted", "2027-01-01T00:00:00Z", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"an expiration is rounded down to the second", "2027-01-01T00:00:00.999999999Z", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"an expiration one second ahead is in the future", apitoken.FormatTime(now.Add(time.Second)), now.Add(time.Second)},
		{"an expiration exactly the maximum lifetime ahead is accepted", apitoken.FormatTime(now.Add(maxLifetime)), now.Add(maxLifetime)},
		{"an expiration under a second past the maximum is rounded onto it",
			now.Add(maxLifetime + 999*time.Millisecond).Format(time.RFC3339Nano), now.Add(maxLifetime)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := validTokenRequest()
			req.Expiration = &tt.in
			spec, err := req.Validate(testPolicy(t))
			if err != nil {
				t.Fatalf("Validate(expiration %q): %v", tt.in, err)
			}
			if !spec.Expiration.Equal(tt.want) || spec.Expiration.Location() != time.UTC {
				t.Fatalf("expiration %q gave %v, want %v in UTC", tt.in, spec.Expiration, tt.want)
			}
		})
	}
}

func TestTokenRequestValidateRefusesEachRule(t *testing.T) {
	long := strings.Repeat("x", apitoken.MaxDescriptionLength+1)
	tooManyResources := make([]apitoken.Resource, apitoken.MaxResources+1)
	for i := range tooManyResources {
		tooManyResources[i] = apitoken.Resource{Type: "account", IDs: []string{"1"}}
	}
	tooManyIDs := make([]string, apitoken.MaxResourceIDs+1)
	for i := range tooManyIDs {
		tooManyIDs[i] = fmt.Sprint(i)
	}
	tooManySources := strings.TrimSuffix(strings.Repeat("10.0.0.1,", apitoken.MaxSourceIPs+1), ",")

	tests := []struct {
		name   string
		mutate func(*apitoken.TokenRequest)
		field  string
		detail string // a substring of the detail
	}{
		{"a missing description", func(r *apitoken.TokenRequest) { r.Description = nil }, "description", "description is required."},
		{"an empty description", func(r *apitoken.TokenRequest) { r.Description = ptr("") }, "description", "1 to 255 characters long; it has 0"},
		{"a description of 256 characters", func(r *apitoken.TokenRequest) { r.Description = &long }, "description", "1 to 255 characters long; it has 256"},
		{"a blank description", func(r *apitoken.TokenRequest) { r.Description = ptr("   ") }, "description", "must not be blank"},
		{"a description with a newline", func(r *apitoken.TokenRequest) { r.Description = ptr("two\nlines") }, "description", "control characters"},
		{"a description with DEL", func(r *apitoken.TokenRequest) { r.Description = ptr("del\x7f") }, "description", "control characters"},
		{"a description that is not UTF-8", func(r *apitoken.TokenRequest) { r.Description = ptr("caf\xe9") }, "description", "valid UTF-8"},
		{"a description with a C1 control (U+0085)", func(r *apitoken.TokenRequest) { r.Description = ptr("next\u0085line") }, "description", "control characters"},
		{"a description with a bidi override (U+202E)", func(r *apitoken.TokenRequest) { r.Description = ptr("deploy \u202Egnp.exe") }, "description", "bidirectional"},
		{"a description with a bidi isolate (U+2066)", func(r *apitoken.TokenRequest) { r.Description = ptr("a\u2066b") }, "description", "bidirectional"},
		{"a description of zero-width characters only", func(r *apitoken.TokenRequest) { r.Description = ptr("\u200b\u200c\u200d\u2060\ufeff") }, "description", "visible character"},
		{"a description of fillers only", func(r *apitoken.TokenRequest) { r.Description = ptr("\u3164\u115f \u00a0\u2800") }, "description", "visible character"},
		{"an expiration with a comma before its fraction", func(r *apitoken.TokenRequest) { r.Expiration = ptr("2027-07-01T13:47:17,000Z") }, "expiration", "RFC 3339"},
		{"a missing scope", func(r *apitoken.TokenRequest) { r.Scope = nil }, "scope", "scope is required."},
		{"an empty scope", func(r *apitoken.TokenRequest) { r.Scope = ptr("") }, "scope", "scope must list at least one scope."},
		{"an unknown scope", func(r *apitoken.TokenRequest) { r.Scope = ptr("customers cards") }, "scope", `scope lists unknown scope "cards".`},
		{"a scope with a double space", func(r *apitoken.TokenRequest) { r.Scope = ptr("customers  accounts") }, "scope", "single spaces"},
		{"a repeated scope", func(r *apitoken.TokenRequest) { r.Scope = ptr("customers customers") }, "scope", `scope repeats "customers".`},
		{"a missing expiration", func(r *apitoken.TokenRequest) { r.Expiration = nil }, "expiration", "expiration is required."},
		{"an expiration that is not a date", func(r *apitoken.TokenRequest) { r.Expiration = ptr("tomorrow") }, "expiration", "RFC 3339 date-time"},
		{"an expiration without a time", func(r *apitoken.TokenRequest) { r.Expiration = ptr("2027-01-01") }, "expiration", "RFC 3339 date-time"},
		{"an expiration without a time zone", func(r *apitoken.TokenRequest) { r.Expiration = ptr("2027-01-01T00:00:00") }, "expiration", "RFC 3339 date-time"},
		{"an expiration now", func(r *apitoken.TokenRequest) { r.Expiration = ptr(apitoken.FormatTime(now)) }, "expiration", "must be in the future"},
		{"an expiration in the past", func(r *apitoken.TokenRequest) { r.Expiration = ptr("2020-01-01T00:00:00Z") }, "expiration", "must be in the future"},
		{"an expiration under a second ahead, rounded down onto now",
			func(r *apitoken.TokenRequest) {
				r.Expiration = ptr(now.Add(999 * time.Millisecond).Format(time.RFC3339Nano))
			},
			"expiration", "must be in the future"},
		{"an expiration a second past the maximum lifetime",
			func(r *apitoken.TokenRequest) {
				r.Expiration = ptr(apitoken.FormatTime(now.Add(maxLifetime + time.Second)))
			},
			"expiration", "at most 366 days ahead (no later than 2027-07-02T13:47:17.000Z)"},
		{"an empty sourceIp", func(r *apitoken.TokenRequest) { r.SourceIP = ptr("") }, "sourceIp", "at least one IP address"},
		{"a sourceIp with spaces", func(r *apitoken.TokenRequest) { r.SourceIP = ptr("10.0.0.1, 10.0.0.2") }, "sourceIp", "must not contain spaces"},
		{"a sourceIp with a host name", func(r *apitoken.TokenRequest) { r.SourceIP = ptr("10.0.0.1,example.com") }, "sourceIp", `entry 2 ("example.com")`},
		{"a sourceIp of 101 entries", func(r *apitoken.TokenRequest) { r.SourceIP = &tooManySources }, "sourceIp", "lists 101 entries; at most 100"},
		{"a resource of an unknown type", func(r *apitoken.TokenRequest) { r.Resources[0].Type = "wallet" }, "resources/0/type", `one of "account", "card", "customer"`},
		{"a resource without ids", func(r *apitoken.TokenRequest) { r.Resources[0].IDs = nil }, "resources/0/ids", "at least one id"},
		{"a resource with 1001 ids", func(r *apitoken.TokenRequest) { r.Resources[0].IDs = tooManyIDs }, "resources/0/ids", "lists 1001 ids; at most 1000"},
		{"a resource id with a space", func(r *apitoken.TokenRequest) { r.Resources[0].IDs[1] = "10 01" }, "resources/0/ids/1", "letters, digits"},
		{"an empty resource id", func(r *apitoken.TokenRequest) { r.Resources[0].IDs[0] = "" }, "resources/0/ids/0", "letters, digits"},
		{"a resource id of 256 characters", func(r *apitoken.TokenRequest) { r.Resources[0].IDs[0] = strings.Repeat("9", 256) }, "resources/0/ids/0", "1 to 255"},
		{"101 resources", func(r *apitoken.TokenRequest) { r.Resources = tooManyResources }, "resources", "lists 101 entries; at most 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			req := validTokenRequest()
			tt.mutate(&req)
			_, err := req.Validate(testPolicy(t))
			if err == nil {
				t.Fatal("Validate succeeded, want an error")
			}
			errs := apitoken.ErrorList(err)
			if len(errs) != 1 {
				t.Fatalf("Validate returned %d errors, want 1: %v", len(errs), err)
			}
			e := errs[0]
			if e.Code != apitoken.Invalid || e.Field != tt.field {
				t.Errorf("error is %q about %q, want %q about %q", e.Code, e.Field, apitoken.Invalid, tt.field)
			}
			if !strings.Contains(e.Detail, tt.detail) {
				t.Errorf("detail %q does not mention %q", e.Detail, tt.detail)
			}
			if !strings.HasSuffix(e.Detail, ".") {
				t.Errorf("detail %q is not a sentence ending with a period", e.Detail)
			}
		})
	}
}

func TestTokenRequestValidateAcceptsTheLimits(t *testing.T) {
	sources := strings.TrimSuffix(strings.Repeat("10.0.0.1,", apitoken.MaxSourceIPs), ",")
	ids := make([]string, apitoken.MaxResourceIDs)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	resources := make([]apitoken.Resource, apitoken.MaxResources)
	for i := range resources {
		resources[i] = apitoken.Resource{Type: apitoken.ResourceTypes[i%3], IDs: []string{"a.b_c:d-e"}}
	}
	resources[0].IDs = ids
	resources[1].IDs = []string{strings.Repeat("9", apitoken.MaxResourceIDLength)}

	req := validTokenRequest()
	req.Description = ptr(strings.Repeat("é", apitoken.MaxDescriptionLength)) // 255 characters, 510 bytes
	req.SourceIP = &sources
	req.Resources = resources
	spec, err := req.Validate(testPolicy(t))
	if err != nil {
		t.Fatalf("Validate at the limits: %v", err)
	}
	if spec.SourceIP != sources || len(spec.Resources) != apitoken.MaxResources || spec.Description != *req.Description {
		t.Fatalf("Validate at the limits dropped attributes: %d resources, sourceIp %d bytes", len(spec.Resources), len(spec.SourceIP))
	}
}

func TestTokenRequestValidateReportsEveryProblemAtOnce(t *testing.T) {
	t.Run("an empty request lacks every required attribute", func(t *testing.T) {
		_, err := apitoken.TokenRequest{}.Validate(testPolicy(t))
		errs := apitoken.ErrorList(err)
		if got, want := errorFields(errs), []string{"description", "scope", "expiration"}; !slices.Equal(got, want) {
			t.Fatalf("errors are about %q, want %q: %v", got, want, err)
		}
		for _, e := range errs {
			if e.Code != apitoken.Invalid || !strings.HasSuffix(e.Detail, " is required.") {
				t.Errorf("error %v, want %q: <attribute> is required.", e, apitoken.Invalid)
			}
		}
	})
	t.Run("a request wrong in every attribute gets an error for each", func(t *testing.T) {
		req := apitoken.TokenRequest{
			Description: ptr(""),
			Scope:       ptr("nope"),
			Expiration:  ptr("2000-01-01T00:00:00Z"),
			SourceIP:    ptr("10.0.0.0/33"),
			Resources: []apitoken.Resource{
				{Type: "account", IDs: []string{"1"}},
				{Type: "wallet", IDs: []string{"ok", "not ok"}},
				{Type: "card"},
			},
		}
		_, err := req.Validate(testPolicy(t))
		got := errorFields(apitoken.ErrorList(err))
		want := []string{"description", "scope", "expiration", "sourceIp", "resources/1/type", "resources/1/ids/1", "resources/2/ids"}
		if !slices.Equal(got, want) {
			t.Fatalf("errors are about %q, want %q: %v", got, want, err)
		}
	})
}

func TestTokenUpdateValidate(t *testing.T) {
	current := &apitoken.Token{Expiration: now.Add(30 * 24 * time.Hour), Enabled: true, Description: "old"}

	t.Run("an empty update changes nothing", func(t *testing.T) {
		ch, err := apitoken.TokenUpdate{}.Validate(current, now)
		if err != nil {
			t.Fatal(err)
		}
		if ch != (apitoken.TokenChange{}) {
			t.Fatalf("change = %+v, want none", ch)
		}
	})

	valid := []struct {
		name   string
		update apitoken.TokenUpdate
		want   apitoken.Token
	}{
		{"a new description", apitoken.TokenUpdate{Description: ptr("new")},
			apitoken.Token{Description: "new", Enabled: true, Expiration: current.Expiration}},
		{"disabling", apitoken.TokenUpdate{Enabled: ptr(false)},
			apitoken.Token{Description: "old", Enabled: false, Expiration: current.Expiration}},
		{"an earlier expiration, rounded down to the second",
			apitoken.TokenUpdate{Expiration: ptr("2026-07-02T00:00:00.9999Z")},
			apitoken.Token{Description: "old", Enabled: true, Expiration: time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC)}},
		{"the same expiration", apitoken.TokenUpdate{Expiration: ptr(apitoken.FormatTime(current.Expiration))},
			apitoken.Token{Description: "old", Enabled: true, Expiration: current.Expiration}},
		{"an expiration a second ahead", apitoken.TokenUpdate{Expiration: ptr(apitoken.FormatTime(now.Add(time.Second)))},
			apitoken.Token{Description: "old", Enabled: true, Expiration: now.Add(time.Second)}},
		{"everything at once", apitoken.TokenUpdate{Description: ptr("new"), Enabled: ptr(false), Expiration: ptr("2026-07-02T02:00:00+02:00")},
			apitoken.Token{Description: "new", Enabled: false, Expiration: time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range valid {
		t.Run(tt.name+" is applied", func(t *testing.T) {
			ch, err := tt.update.Validate(current, now)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got := *current
			ch.Apply(&got)
			if got.Description != tt.want.Description || got.Enabled != tt.want.Enabled || !got.Expiration.Equal(tt.want.Expiration) {
				t.Fatalf("after Apply: %q enabled=%v expires %v; want %q enabled=%v expires %v",
					got.Description, got.Enabled, got.Expiration, tt.want.Description, tt.want.Enabled, tt.want.Expiration)
			}
			if current.Description != "old" || !current.Enabled {
				t.Fatal("Validate changed the current token")
			}
		})
	}

	invalid := []struct {
		name   string
		update apitoken.TokenUpdate
		fields []string
		detail string
	}{
		{"a later expiration", apitoken.TokenUpdate{Expiration: ptr(apitoken.FormatTime(current.Expiration.Add(time.Second)))},
			[]string{"expiration"}, "can only be moved earlier than 2026-07-31T13:47:17.000Z"},
		{"an expiration now", apitoken.TokenUpdate{Expiration: ptr(apitoken.FormatTime(now))},
			[]string{"expiration"}, "must be in the future; revoke the token"},
		{"an expiration in the past", apitoken.TokenUpdate{Expiration: ptr("2026-01-01T00:00:00Z")},
			[]string{"expiration"}, "must be in the future"},
		{"an expiration that is not a date", apitoken.TokenUpdate{Expiration: ptr("never")},
			[]string{"expiration"}, "RFC 3339"},
		{"an empty description", apitoken.TokenUpdate{Description: ptr("")},
			[]string{"description"}, "1 to 255 characters"},
		{"every problem at once", apitoken.TokenUpdate{Description: ptr("\t"), Enabled: ptr(true), Expiration: ptr("2099-01-01T00:00:00Z")},
			[]string{"description", "expiration"}, "blank"},
	}
	for _, tt := range invalid {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			_, err := tt.update.Validate(current, now)
			errs := apitoken.ErrorList(err)
			if err == nil {
				t.Fatal("Validate succeeded, want an error")
			}
			if got := errorFields(errs); !slices.Equal(got, tt.fields) {
				t.Fatalf("errors are about %q, want %q: %v", got, tt.fields, err)
			}
			if errs[0].Code != apitoken.Invalid || !strings.Contains(errs[0].Detail, tt.detail) {
				t.Fatalf("first error %v, want %q mentioning %q", errs[0], apitoken.Invalid, tt.detail)
			}
		})
	}
}

func TestTokenUpdateValidateWithoutACurrentToken(t *testing.T) {
	ch, err := apitoken.TokenUpdate{Expiration: ptr("2099-01-01T00:00:00Z")}.Validate(nil, now)
	if err != nil || ch.Expiration == nil || !ch.Expiration.Equal(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("Validate(nil) of a later expiration = %+v, %v; want it accepted, nothing to compare with", ch, err)
	}
	_, err = apitoken.TokenUpdate{Description: ptr(""), Expiration: ptr(apitoken.FormatTime(now))}.Validate(nil, now)
	if got := errorFields(apitoken.ErrorList(err)); !slices.Equal(got, []string{"description", "expiration"}) {
		t.Fatalf("Validate(nil) errors are about %q, want description and expiration: %v", got, err)
	}
}

func TestTokenStatus(t *testing.T) {
	revoked := now.Add(-time.Hour)
	future, past := now.Add(time.Hour), now.Add(-time.Minute)
	tests := []struct {
		name  string
		token apitoken.Token
		want  apitoken.Status
	}{
		{"an enabled token before its expiration is active", apitoken.Token{Enabled: true, Expiration: future}, apitoken.StatusActive},
		{"a token one nanosecond before its expiration is active", apitoken.Token{Enabled: true, Expiration: now.Add(1)}, apitoken.StatusActive},
		{"a token at its expiration is expired", apitoken.Token{Enabled: true, Expiration: now}, apitoken.StatusExpired},
		{"a token past its expiration is expired", apitoken.Token{Enabled: true, Expiration: past}, apitoken.StatusExpired},
		{"a disabled token is disabled", apitoken.Token{Enabled: false, Expiration: future}, apitoken.StatusDisabled},
		{"expired wins over disabled", apitoken.Token{Enabled: false, Expiration: past}, apitoken.StatusExpired},
		{"revoked wins over active", apitoken.Token{Enabled: true, Expiration: future, RevokedAt: &revoked}, apitoken.StatusRevoked},
		{"revoked wins over disabled", apitoken.Token{Enabled: false, Expiration: future, RevokedAt: &revoked}, apitoken.StatusRevoked},
		{"revoked wins over expired", apitoken.Token{Enabled: true, Expiration: past, RevokedAt: &revoked}, apitoken.StatusRevoked},
		{"revoked wins over expired and disabled", apitoken.Token{Enabled: false, Expiration: past, RevokedAt: &revoked}, apitoken.StatusRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.token.Status(now); got != tt.want {
				t.Fatalf("Status = %q, want %q", got, tt.want)
			}
		})
	}
	if len(apitoken.Statuses) != 4 {
		t.Errorf("Statuses = %q, want the 4 statuses", apitoken.Statuses)
	}
}

func TestFormatTimeAndDuration(t *testing.T) {
	berlin := time.FixedZone("CEST", 2*3600)
	if got, want := apitoken.FormatTime(time.Date(2027, 7, 1, 15, 47, 17, 987654321, berlin)), "2027-07-01T13:47:17.987Z"; got != want {
		t.Errorf("FormatTime = %q, want %q", got, want)
	}
	if got, want := apitoken.FormatTime(time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC)), "2027-07-01T00:00:00.000Z"; got != want {
		t.Errorf("FormatTime = %q, want %q (milliseconds always written)", got, want)
	}
	for d, want := range map[time.Duration]string{
		366 * 24 * time.Hour: "366 days",
		24 * time.Hour:       "1 day",
		36 * time.Hour:       "36h0m0s",
		90 * time.Minute:     "1h30m0s",
	} {
		if got := apitoken.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
