package verifier

import (
	"fmt"
	"net/netip"
	"strings"
)

// MaxSourceIPs is the most entries a sourceIp restriction may list.
const MaxSourceIPs = 100

// SourceIPs is a parsed sourceIp restriction: the addresses and ranges a
// token may be used from.
type SourceIPs []netip.Prefix

// ParseSourceIPs parses a sourceIp value: IPv4 or IPv6 addresses and CIDR
// ranges separated by single commas, without spaces, at most MaxSourceIPs.
// A range with host bits set, such as 10.1.2.3/8, is taken as its network.
func ParseSourceIPs(s string) (SourceIPs, error) {
	if s == "" {
		return nil, fmt.Errorf("must list at least one IP address or CIDR range")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return nil, fmt.Errorf("must not contain spaces")
	}
	parts := strings.Split(s, ",")
	if len(parts) > MaxSourceIPs {
		return nil, fmt.Errorf("lists %d entries; at most %d are allowed", len(parts), MaxSourceIPs)
	}
	set := make(SourceIPs, 0, len(parts))
	for i, p := range parts {
		prefix, err := parseSourceIP(p)
		if err != nil {
			return nil, fmt.Errorf("entry %d (%q) is not an IP address or CIDR range", i+1, p)
		}
		set = append(set, prefix)
	}
	return set, nil
}

func parseSourceIP(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("zoned address")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Contains reports whether ip is one of the addresses or inside one of the
// ranges. IPv4-mapped IPv6 addresses match their IPv4 form.
func (s SourceIPs) Contains(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, p := range s {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
