// Package clientip finds the address a request came from when it may have
// passed through reverse proxies.
//
// The TCP peer is the client unless the peer is a trusted proxy. Only then
// is X-Forwarded-For read, from the right: each proxy appends the address it
// received the request from, so the rightmost address that is not a trusted
// proxy is the client. Addresses left of it were written by the client and
// prove nothing.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds client addresses behind a set of trusted proxies.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a resolver that trusts the given proxies.
func New(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: trusted}
}

// ParsePrefixes parses a comma-separated list of addresses and CIDR ranges,
// such as "10.0.0.0/8,192.168.1.10". Spaces around entries are ignored.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("clientip: %q is not an address or CIDR range", s)
			}
			// Trusted compares unmapped addresses, so an IPv4-mapped range
			// must become its IPv4 range to match anything.
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("clientip: %q is not an address or CIDR range", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Trusted reports whether the address is a trusted proxy.
func (r *Resolver) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// PeerTrusted reports whether the request's TCP peer is a trusted proxy,
// whose forwarding headers may be believed.
func (r *Resolver) PeerTrusted(req *http.Request) bool {
	return r.Trusted(Peer(req))
}

// ClientIP returns the address the request came from. It returns the zero
// Addr only if the peer address cannot be parsed.
func (r *Resolver) ClientIP(req *http.Request) netip.Addr {
	peer := Peer(req)
	if !peer.IsValid() || !r.Trusted(peer) {
		return peer
	}
	hops := forwardedFor(req.Header)
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			// An entry we cannot read ends what we can believe; the last
			// hop before it is the best we know.
			break
		}
		client = a.Unmap()
		if !r.Trusted(client) {
			break
		}
	}
	return client
}

// Peer returns the request's TCP peer address.
func Peer(req *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// forwardedFor returns the X-Forwarded-For entries, left to right, across
// every header line.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, line := range h.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(line, ",") {
			hop = strings.TrimSpace(hop)
			// Some proxies write IPv6 addresses in brackets, or with a port.
			if host, _, err := net.SplitHostPort(hop); err == nil {
				hop = host
			}
			hops = append(hops, strings.Trim(hop, "[]"))
		}
	}
	return hops
}
