package verifier_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/tokend/tokend/pkg/verifier"
)

func TestParseSourceIPs(t *testing.T) {
	valid := []struct {
		name, in string
		want     []string // the parsed prefixes
	}{
		{"an IPv4 address is a /32", "192.168.1.1", []string{"192.168.1.1/32"}},
		{"an IPv6 address is a /128", "2001:db8::1", []string{"2001:db8::1/128"}},
		{"Unit's example", "192.168.1.1,10.0.0.0/8", []string{"192.168.1.1/32", "10.0.0.0/8"}},
		{"a CIDR range with host bits set is taken as its network", "10.1.2.3/8", []string{"10.0.0.0/8"}},
		{"an IPv6 range with host bits set is taken as its network", "2001:db8::1/32", []string{"2001:db8::/32"}},
		{"an IPv4-mapped IPv6 address is its IPv4 address", "::ffff:10.0.0.1", []string{"10.0.0.1/32"}},
		{"an IPv4-mapped IPv6 range is its IPv4 range", "::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}},
		{"the whole IPv4-mapped space is the whole IPv4 space", "::ffff:0.0.0.0/96", []string{"0.0.0.0/0"}},
		{"everything", "0.0.0.0/0,::/0", []string{"0.0.0.0/0", "::/0"}},
		{"a repeated entry is kept", "10.0.0.1,10.0.0.1", []string{"10.0.0.1/32", "10.0.0.1/32"}},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verifier.ParseSourceIPs(tt.in)
			if err != nil {
				t.Fatalf("ParseSourceIPs(%q): %v", tt.in, err)
			}
			if s := prefixStrings(got); strings.Join(s, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("ParseSourceIPs(%q) = %q, want %q", tt.in, s, tt.want)
			}
		})
	}

	invalid := []struct {
		name, in, want string
	}{
		{"an empty value", "", "must list at least one IP address or CIDR range"},
		{"a space after a comma", "10.0.0.1, 10.0.0.2", "must not contain spaces"},
		{"a leading space", " 10.0.0.1", "must not contain spaces"},
		{"a tab", "10.0.0.1\t", "must not contain spaces"},
		{"a newline", "10.0.0.1\n10.0.0.2", "must not contain spaces"},
		{"a leading comma", ",10.0.0.1", `entry 1 ("") is not an IP address or CIDR range`},
		{"a trailing comma", "10.0.0.1,", `entry 2 ("") is not an IP address or CIDR range`},
		{"two commas in a row", "10.0.0.1,,10.0.0.2", `entry 2 ("") is not`},
		{"an IPv4 octet over 255", "10.0.0.256", `entry 1 ("10.0.0.256")`},
		{"an IPv4 prefix over 32 bits", "10.0.0.0/33", `entry 1 ("10.0.0.0/33")`},
		{"an IPv6 prefix over 128 bits", "::1/129", `entry 1 ("::1/129")`},
		{"a negative prefix", "10.0.0.0/-1", `entry 1 ("10.0.0.0/-1")`},
		{"a prefix without bits", "10.0.0.0/", `entry 1 ("10.0.0.0/")`},
		{"a host name", "10.0.0.1,localhost", `entry 2 ("localhost")`},
		{"an address with a port", "10.0.0.1:443", `entry 1 ("10.0.0.1:443")`},
		{"a bracketed IPv6 address", "[2001:db8::1]", `entry 1 ("[2001:db8::1]")`},
		{"an IPv6 address with a zone", "fe80::1%eth0", `entry 1 ("fe80::1%eth0")`},
		{"an IPv6 range with a zone", "fe80::1%eth0/64", `entry 1 ("fe80::1%eth0/64")`},
		{"a short IPv4 form", "10.1", `entry 1 ("10.1")`},
		{"a range written as two addresses", "10.0.0.1-10.0.0.9", `entry 1 ("10.0.0.1-10.0.0.9")`},
		{"101 entries", sourceList(101), "lists 101 entries; at most 100 are allowed"},
	}
	for _, tt := range invalid {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			got, err := verifier.ParseSourceIPs(tt.in)
			if err == nil {
				t.Fatalf("ParseSourceIPs(%q) = %q, want an error", tt.in, prefixStrings(got))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseSourceIPs(%q) error = %q, want it to say %q", tt.in, err, tt.want)
			}
		})
	}

	t.Run("100 entries, the most allowed, are accepted", func(t *testing.T) {
		got, err := verifier.ParseSourceIPs(sourceList(verifier.MaxSourceIPs))
		if err != nil || len(got) != verifier.MaxSourceIPs {
			t.Fatalf("ParseSourceIPs(100 entries) = %d prefixes, %v", len(got), err)
		}
		if got[99].String() != "10.0.0.99/32" {
			t.Fatalf("last entry = %s, want 10.0.0.99/32", got[99])
		}
	})
}

func TestSourceIPsContains(t *testing.T) {
	set, err := verifier.ParseSourceIPs("192.168.1.1,10.0.0.0/8,2001:db8::/32,fe80::/10,::ffff:172.16.0.0/108")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip   string
		want bool
	}{
		{"192.168.1.1", true},
		{"192.168.1.2", false},
		{"10.0.0.0", true},
		{"10.255.255.255", true},
		{"11.0.0.0", false},
		{"9.255.255.255", false},
		{"172.16.0.1", true}, // listed as an IPv4-mapped range
		{"172.31.255.255", true},
		{"172.32.0.0", false},
		{"::ffff:10.1.2.3", true}, // an IPv4-mapped client matches its IPv4 form
		{"::ffff:192.168.1.1", true},
		{"::ffff:192.168.1.2", false},
		{"2001:db8::1", true},
		{"2001:db8:ffff::1", true},
		{"2001:db9::1", false},
		{"fe80::1%eth0", true}, // a zone does not stop a match
		{"::1", false},
		{"::a00:1", false}, // IPv4-compatible ::10.0.0.1 is not IPv4-mapped
	}
	for _, tt := range tests {
		verdict := "is not"
		if tt.want {
			verdict = "is"
		}
		t.Run(tt.ip+" "+verdict+" allowed", func(t *testing.T) {
			ip := netip.MustParseAddr(tt.ip)
			if got := set.Contains(ip); got != tt.want {
				t.Fatalf("Contains(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
	t.Run("an unknown address is never allowed", func(t *testing.T) {
		all, _ := verifier.ParseSourceIPs("0.0.0.0/0,::/0")
		if all.Contains(netip.Addr{}) {
			t.Fatal("Contains(zero Addr) = true")
		}
	})
	t.Run("an IPv4 list does not allow IPv6 clients", func(t *testing.T) {
		v4, _ := verifier.ParseSourceIPs("0.0.0.0/0")
		if v4.Contains(netip.MustParseAddr("2001:db8::1")) {
			t.Fatal("0.0.0.0/0 contains 2001:db8::1")
		}
		if !v4.Contains(netip.MustParseAddr("203.0.113.9")) {
			t.Fatal("0.0.0.0/0 does not contain 203.0.113.9")
		}
	})
}

// sourceList returns a sourceIp value of n distinct addresses.
func sourceList(n int) string {
	entries := make([]string, n)
	for i := range entries {
		entries[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
	}
	return strings.Join(entries, ",")
}

func prefixStrings(set verifier.SourceIPs) []string {
	s := make([]string, len(set))
	for i, p := range set {
		s[i] = p.String()
	}
	return s
}
