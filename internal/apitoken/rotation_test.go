package apitoken_test

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/apitoken"
)

// rotatable is a token created a day before now that lives ten days.
func rotatable() apitoken.Token {
	created := now.Add(-24 * time.Hour)
	return apitoken.Token{ID: "old", UserID: "u", Description: "CI", Scope: "customers accounts", Enabled: true,
		CreatedAt: created, Expiration: created.Add(10 * 24 * time.Hour), SourceIP: "10.0.0.0/8"}
}

func TestRotationRequestValidate(t *testing.T) {
	old := rotatable()
	at := func(d time.Duration) *string { s := apitoken.FormatTime(now.Add(d)); return &s }
	yes := true
	for _, tc := range []struct {
		name  string
		req   apitoken.RotationRequest
		limit time.Time
		want  apitoken.Rotation
		// fields lists the attributes at fault; none means valid.
		fields []string
	}{
		{"nothing asked: the old lifetime from now, the old token retired now", apitoken.RotationRequest{}, time.Time{},
			apitoken.Rotation{Expiration: now.Add(10 * 24 * time.Hour), PreviousExpiration: now}, nil},
		{"the default stays within the caller's limit", apitoken.RotationRequest{}, now.Add(36 * time.Hour),
			apitoken.Rotation{Expiration: now.Add(36 * time.Hour), PreviousExpiration: now}, nil},
		{"an expiration and a grace window ending at the first use", apitoken.RotationRequest{
			Expiration: at(48 * time.Hour), PreviousExpiration: at(time.Hour), RetirePreviousOnFirstUse: &yes}, time.Time{},
			apitoken.Rotation{Expiration: now.Add(48 * time.Hour), PreviousExpiration: now.Add(time.Hour), RetireOnFirstUse: true}, nil},
		{"first-use retirement without a grace window changes nothing", apitoken.RotationRequest{RetirePreviousOnFirstUse: &yes}, time.Time{},
			apitoken.Rotation{Expiration: now.Add(10 * 24 * time.Hour), PreviousExpiration: now}, nil},
		{"a grace of exactly 7 days", apitoken.RotationRequest{PreviousExpiration: at(7 * 24 * time.Hour)}, time.Time{},
			apitoken.Rotation{Expiration: now.Add(10 * 24 * time.Hour), PreviousExpiration: now.Add(7 * 24 * time.Hour)}, nil},
		{"a grace of more than 7 days", apitoken.RotationRequest{PreviousExpiration: at(7*24*time.Hour + time.Second)}, time.Time{},
			apitoken.Rotation{}, []string{"previousExpiration"}},
		{"a grace in the past", apitoken.RotationRequest{PreviousExpiration: at(-time.Second)}, time.Time{},
			apitoken.Rotation{}, []string{"previousExpiration"}},
		{"an expiration in the past and a grace that is no time", apitoken.RotationRequest{
			Expiration: at(-time.Hour), PreviousExpiration: ptr("tomorrow")}, time.Time{},
			apitoken.Rotation{}, []string{"expiration", "previousExpiration"}},
		{"an expiration past the maximum lifetime", apitoken.RotationRequest{Expiration: at(maxLifetime + time.Hour)}, time.Time{},
			apitoken.Rotation{}, []string{"expiration"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rot, err := tc.req.Validate(&old, testPolicy(t), tc.limit)
			if tc.fields != nil {
				var got []string
				for _, e := range apitoken.ErrorList(err) {
					got = append(got, e.Field)
				}
				if strings.Join(got, " ") != strings.Join(tc.fields, " ") {
					t.Fatalf("errors on %v, want on %v: %v", got, tc.fields, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(rot, tc.want) {
				t.Fatalf("Validate = %+v, %v; want %+v", rot, err, tc.want)
			}
		})
	}
	t.Run("a grace past the token's own expiration", func(t *testing.T) {
		short := rotatable()
		short.Expiration = now.Add(time.Hour)
		_, err := apitoken.RotationRequest{PreviousExpiration: at(2 * time.Hour)}.Validate(&short, testPolicy(t), time.Time{})
		if list := apitoken.ErrorList(err); len(list) != 1 || list[0].Field != "previousExpiration" {
			t.Fatalf("Validate: %v, want an error on previousExpiration", err)
		}
	})
}

func TestRotationRetiresTheOldTokenAndTheSuccessorCopiesIt(t *testing.T) {
	c := MustParseCatalog(t, "customers\naccounts\n")
	old := rotatable()
	rot := apitoken.Rotation{Expiration: now.Add(time.Hour), PreviousExpiration: now.Add(time.Minute)}
	user := &apitoken.User{ID: "u", Role: apitoken.RoleMember, Scopes: []string{"accounts"}}
	spec, err := old.SuccessorSpec(user, c, rot)
	if err != nil {
		t.Fatal(err)
	}
	want := apitoken.TokenSpec{Description: "CI", Scope: "accounts", Scopes: []string{"accounts"}, Expiration: now.Add(time.Hour), SourceIP: "10.0.0.0/8"}
	if !reflect.DeepEqual(spec, want) {
		t.Fatalf("SuccessorSpec = %+v, want %+v: the scopes the user may no longer hold dropped", spec, want)
	}
	if _, err := old.SuccessorSpec(&apitoken.User{Role: apitoken.RoleMember, Scopes: []string{}}, c, rot); apitoken.ErrorCode(err) != apitoken.Conflict {
		t.Fatalf("a successor with no scope left: %v, want a conflict", err)
	}
	rot.Retire(&old, "new")
	if old.RotatedTo != "new" || !old.Expiration.Equal(now.Add(time.Minute)) {
		t.Fatalf("the old token after Retire: rotated to %q, expiring %v", old.RotatedTo, old.Expiration)
	}
	for name, tok := range map[string]apitoken.Token{"a rotated token": old, "a revoked token": revokedToken(), "an expired token": expiredToken()} {
		if err := tok.CheckRotatable(now.Add(2 * time.Minute)); apitoken.ErrorCode(err) != apitoken.Conflict {
			t.Errorf("rotating %s: %v, want a conflict", name, err)
		}
	}
}

func revokedToken() apitoken.Token { t := rotatable(); at := now; t.RevokedAt = &at; return t }
func expiredToken() apitoken.Token { t := rotatable(); t.Expiration = now; return t }

func TestMergeClientsKeepsTheLatestUseOfTheLastFiveAddresses(t *testing.T) {
	at := func(s int) time.Time { return now.Add(time.Duration(s) * time.Second) }
	var u apitoken.Usage
	for i, ip := range []string{"192.0.2.1", "192.0.2.2", "2001:db8::1", "192.0.2.1", "192.0.2.3", "192.0.2.4", "192.0.2.5"} {
		u.Add(apitoken.Use{At: at(i), IP: netip.MustParseAddr(ip), UserAgent: "agent " + ip})
	}
	u.Add(apitoken.Use{At: at(10)}) // an unknown address is a latest use, not a client
	var ips []string
	for _, c := range u.Clients {
		ips = append(ips, c.IP)
	}
	if got := strings.Join(ips, " "); got != "192.0.2.5 192.0.2.4 192.0.2.3 192.0.2.1 2001:db8::1" {
		t.Fatalf("clients %s", got)
	}
	if !u.Latest.At.Equal(at(10)) || u.Clients[3].At != at(3) {
		t.Fatalf("latest %v, 192.0.2.1 at %v", u.Latest.At, u.Clients[3].At)
	}
	// An older use merged in changes nothing.
	merged := apitoken.MergeClients(u.Clients, []apitoken.Client{{IP: "192.0.2.5", At: at(-1)}})
	if !reflect.DeepEqual(merged, u.Clients) {
		t.Fatalf("an older use replaced a later one: %+v", merged)
	}
}

func TestCleanUserAgent(t *testing.T) {
	for in, want := range map[string]string{
		"curl/8.5.0":                         "curl/8.5.0",
		"  spaced \t":                        "spaced",
		"a\x00b\x1bc\u202ed":                 "abcd",
		"bad \xff byte":                      "bad \uFFFD byte",
		strings.Repeat("é", 200):             strings.Repeat("é", 128),
		strings.Repeat("x", 255) + "é" + "y": strings.Repeat("x", 255),
	} {
		if got := apitoken.CleanUserAgent(in); got != want {
			t.Errorf("CleanUserAgent(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLeakMarkKeepsTheFirstReport(t *testing.T) {
	tok := rotatable()
	apitoken.Leak{URL: "https://github.com/o/r", Source: "commit"}.Mark(&tok, now)
	apitoken.Leak{URL: "https://example.com/later", Source: "npm"}.Mark(&tok, now.Add(time.Hour))
	if tok.RevokedAt == nil || !tok.RevokedAt.Equal(now) || !tok.LeakedAt.Equal(now) || tok.LeakURL != "https://github.com/o/r" || tok.LeakSource != "commit" {
		t.Fatalf("after two reports: %+v", tok)
	}
}
