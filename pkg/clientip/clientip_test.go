package clientip_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/tokend/tokend/pkg/clientip"
)

// MustParsePrefixes parses a trusted-proxy list or fails the test.
func MustParsePrefixes(tb testing.TB, list string) []netip.Prefix {
	tb.Helper()
	p, err := clientip.ParsePrefixes(list)
	if err != nil {
		tb.Fatalf("ParsePrefixes(%q): %v", list, err)
	}
	return p
}

// request returns a request from the peer with the X-Forwarded-For lines.
func request(peer string, xff ...string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = peer
	for _, line := range xff {
		req.Header.Add("X-Forwarded-For", line)
	}
	return req
}

func TestClientIPWithoutTrustedProxies(t *testing.T) {
	r := clientip.New(nil)
	tests := []struct {
		name string
		req  *http.Request
		want string
	}{
		{"the peer is the client", request("203.0.113.7:51234"), "203.0.113.7"},
		{"X-Forwarded-For from an untrusted peer is ignored", request("203.0.113.7:51234", "198.51.100.1"), "203.0.113.7"},
		{"an IPv6 peer", request("[2001:db8::7]:443"), "2001:db8::7"},
		{"an IPv4-mapped IPv6 peer is its IPv4 address", request("[::ffff:203.0.113.7]:443"), "203.0.113.7"},
		{"a peer's zone is dropped", request("[fe80::1%eth0]:443"), "fe80::1"},
		{"a peer without a port", request("203.0.113.7"), "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.ClientIP(tt.req); got != netip.MustParseAddr(tt.want) {
				t.Fatalf("ClientIP = %v, want %s", got, tt.want)
			}
		})
	}
	t.Run("an unreadable peer address gives the zero address", func(t *testing.T) {
		for _, peer := range []string{"", "pipe", "example.com:80", "@/tmp/sock"} {
			if got := r.ClientIP(request(peer, "198.51.100.1")); got.IsValid() {
				t.Errorf("ClientIP with peer %q = %v, want the zero Addr", peer, got)
			}
		}
	})
}

func TestClientIPBehindTrustedProxies(t *testing.T) {
	r := clientip.New(MustParsePrefixes(t, "10.0.0.0/8,2001:db8:ffff::/48"))
	const proxy = "10.0.0.1:40000"
	tests := []struct {
		name string
		req  *http.Request
		want string
	}{
		{"a trusted peer without X-Forwarded-For is the client", request(proxy), "10.0.0.1"},
		{"a trusted peer's X-Forwarded-For names the client", request(proxy, "203.0.113.7"), "203.0.113.7"},
		{"the rightmost untrusted address is the client, not what the client wrote",
			request(proxy, "198.51.100.66, 203.0.113.7"), "203.0.113.7"},
		{"trusted proxies are skipped from the right",
			request(proxy, "198.51.100.66, 203.0.113.7, 10.1.1.1, 10.2.2.2"), "203.0.113.7"},
		{"a chain of trusted proxies only ends at the leftmost",
			request(proxy, "10.3.3.3, 10.2.2.2"), "10.3.3.3"},
		{"several header lines are read as one list, in order",
			request(proxy, "198.51.100.66", "203.0.113.7, 10.2.2.2"), "203.0.113.7"},
		{"a spoofed first line does not win over later lines",
			request(proxy, "203.0.113.7", "198.51.100.66"), "198.51.100.66"},
		{"spaces and empty lines are tolerated",
			request(proxy, "  203.0.113.7  ,10.2.2.2 "), "203.0.113.7"},
		{"an IPv6 client", request(proxy, "2001:db8::7"), "2001:db8::7"},
		{"a bracketed IPv6 client", request(proxy, "[2001:db8::7]"), "2001:db8::7"},
		{"a bracketed IPv6 client with a port", request(proxy, "[2001:db8::7]:8443"), "2001:db8::7"},
		{"an IPv4 client with a port", request(proxy, "203.0.113.7:8080"), "203.0.113.7"},
		{"an IPv4-mapped IPv6 client is its IPv4 address", request(proxy, "::ffff:203.0.113.7"), "203.0.113.7"},
		{"an IPv4-mapped trusted proxy is skipped", request(proxy, "203.0.113.7, ::ffff:10.2.2.2"), "203.0.113.7"},
		{"a trusted IPv6 proxy peer", request("[2001:db8:ffff::1]:443", "203.0.113.7"), "203.0.113.7"},
		{"an IPv4-mapped trusted peer", request("[::ffff:10.0.0.1]:443", "203.0.113.7"), "203.0.113.7"},
		{"an untrusted peer's header is ignored even with trusted proxies configured",
			request("198.51.100.9:5000", "203.0.113.7"), "198.51.100.9"},
		{"an unreadable last entry leaves the peer as the client",
			request(proxy, "203.0.113.7, garbage"), "10.0.0.1"},
		{"an unreadable entry stops the walk at the last address read",
			request(proxy, "198.51.100.66, not-an-ip, 203.0.113.7, 10.2.2.2"), "203.0.113.7"},
		{"an unreadable entry left of trusted proxies leaves the last proxy",
			request(proxy, "203.0.113.7, unknown, 10.2.2.2"), "10.2.2.2"},
		{"an empty entry is unreadable", request(proxy, "203.0.113.7,,10.2.2.2"), "10.2.2.2"},
		{"a host name is unreadable", request(proxy, "client.example.com"), "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.ClientIP(tt.req); got != netip.MustParseAddr(tt.want) {
				t.Fatalf("ClientIP = %v, want %s", got, tt.want)
			}
		})
	}
}

func TestTrustedAndPeerTrusted(t *testing.T) {
	r := clientip.New(MustParsePrefixes(t, "10.0.0.0/8, 192.168.1.10, ::1"))
	for addr, want := range map[string]bool{
		"10.9.9.9":            true,
		"11.0.0.1":            false,
		"192.168.1.10":        true,
		"192.168.1.11":        false,
		"::ffff:192.168.1.10": true,
		"::1":                 true,
		"::2":                 false,
	} {
		if got := r.Trusted(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Trusted(%s) = %v, want %v", addr, got, want)
		}
	}
	if !r.PeerTrusted(request("[::1]:8080")) || r.PeerTrusted(request("203.0.113.7:8080")) {
		t.Error("PeerTrusted does not follow the peer address")
	}
	if clientip.New(nil).Trusted(netip.MustParseAddr("127.0.0.1")) {
		t.Error("a resolver without proxies trusts loopback")
	}
}

func TestParsePrefixes(t *testing.T) {
	valid := []struct {
		name, in string
		want     string // prefixes joined by spaces
	}{
		{"an empty list", "", ""},
		{"only commas and spaces", " , ,", ""},
		{"addresses and ranges", "10.0.0.0/8,192.168.1.10", "10.0.0.0/8 192.168.1.10/32"},
		{"spaces around entries", "  10.0.0.0/8 , 2001:db8::1  ", "10.0.0.0/8 2001:db8::1/128"},
		{"a range with host bits set is taken as its network", "10.1.2.3/8", "10.0.0.0/8"},
		{"an IPv4-mapped address is its IPv4 address", "::ffff:10.0.0.1", "10.0.0.1/32"},
		{"an IPv4-mapped range is its IPv4 range", "::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"an IPv6 range", "2001:db8::/32", "2001:db8::/32"},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clientip.ParsePrefixes(tt.in)
			if err != nil {
				t.Fatalf("ParsePrefixes(%q): %v", tt.in, err)
			}
			s := make([]string, len(got))
			for i, p := range got {
				s[i] = p.String()
			}
			if strings.Join(s, " ") != tt.want {
				t.Fatalf("ParsePrefixes(%q) = %q, want %q", tt.in, s, tt.want)
			}
		})
	}
	for _, in := range []string{"10.0.0.0/33", "nope", "10.0.0.1,example.com", "10.0.0.256", "10.0.0.1:80", "fe80::1%eth0/64"} {
		t.Run(in+" is refused", func(t *testing.T) {
			got, err := clientip.ParsePrefixes(in)
			if err == nil {
				t.Fatalf("ParsePrefixes(%q) = %v, want an error", in, got)
			}
			if !strings.HasPrefix(err.Error(), "clientip: ") || !strings.Contains(err.Error(), "not an address or CIDR range") {
				t.Fatalf("error %q does not explain itself", err)
			}
		})
	}
	t.Run("an IPv4-mapped trusted range trusts its IPv4 peers", func(t *testing.T) {
		r := clientip.New(MustParsePrefixes(t, "::ffff:10.0.0.0/104"))
		if got := r.ClientIP(request("10.0.0.1:1234", "203.0.113.7")); got != netip.MustParseAddr("203.0.113.7") {
			t.Fatalf("ClientIP = %v, want 203.0.113.7 (the peer is in the trusted range)", got)
		}
	})
}
