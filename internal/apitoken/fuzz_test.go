package apitoken_test

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/pkg/verifier"
	"github.com/tokend/tokend/schema"
)

// FuzzParseSourceIPs checks the sourceIp parser against the one offline
// verifiers use (pkg/verifier), which must honour exactly the restriction
// tokend issued: both accept the same values and read the same ranges.
// What is accepted reads again the same from its ranges written out.
func FuzzParseSourceIPs(f *testing.F) {
	for _, s := range []string{
		"192.168.1.1,10.0.0.0/8", "10.1.2.3/8", "::ffff:10.0.0.1", "::ffff:10.0.0.0/104",
		"2001:db8::/32,::1", "fe80::1%eth0", "1.2.3.4/33", ",", "1.2.3.4,", " 1.2.3.4", "0.0.0.0/0",
		strings.Repeat("1.1.1.1,", 100) + "1.1.1.1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := apitoken.ParseSourceIPs(s)
		theirs, theirErr := verifier.ParseSourceIPs(s)
		if (err == nil) != (theirErr == nil) {
			t.Fatalf("ParseSourceIPs(%q): tokend says %v, verifiers %v", s, err, theirErr)
		}
		if err != nil {
			return
		}
		if !slices.Equal([]netip.Prefix(got), []netip.Prefix(theirs)) {
			t.Fatalf("ParseSourceIPs(%q): tokend reads %v, verifiers %v", s, got, theirs)
		}
		var parts []string
		for _, p := range got {
			parts = append(parts, p.String())
		}
		again, err := apitoken.ParseSourceIPs(strings.Join(parts, ","))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("ParseSourceIPs(%q) = %v, which reads back as %v, %v", s, got, again, err)
		}
		for _, p := range got {
			if !got.Contains(p.Addr()) {
				t.Fatalf("%v does not contain its own range's address %v", got, p.Addr())
			}
		}
	})
}

// FuzzParseScope checks that a scope value is accepted only as scopes of
// the catalog, each once, separated by single spaces: what is accepted is
// exactly its scopes joined again, as tokend stores it and puts it in the
// token.
func FuzzParseScope(f *testing.F) {
	c, err := apitoken.ParseCatalog(schema.Scopes)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"customers", "customers applications", "customers  applications",
		" customers", "customers customers", "nope", "customers,accounts", "customers\taccounts", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, err := c.ParseScope(s)
		if err != nil {
			if names != nil {
				t.Fatalf("ParseScope(%q) failed (%v) and returned %v", s, err, names)
			}
			return
		}
		if strings.Join(names, " ") != s {
			t.Fatalf("ParseScope(%q) = %q, which joins to something else", s, names)
		}
		for i, n := range names {
			if !c.Has(n) || slices.Contains(names[:i], n) {
				t.Fatalf("ParseScope(%q) accepted %q, unknown or repeated", s, n)
			}
		}
	})
}
