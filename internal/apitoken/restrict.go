package apitoken

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Resource names resources a token is restricted to, like Unit's
// RestrictedResource: a resource type and the ids of that type.
type Resource struct {
	Type string   `json:"type"`
	IDs  []string `json:"ids"`
}

// Limits on a token's restrictions.
const (
	MaxSourceIPs        = 100
	MaxResources        = 100
	MaxResourceIDs      = 1000
	MaxResourceIDLength = 255
)

// ResourceTypes are the resource types a token can be restricted to, as in
// Unit's RestrictedResource.
var ResourceTypes = []string{"account", "card", "customer"}

// SourceIPs is a parsed sourceIp restriction: the addresses and ranges a
// token may be used from.
type SourceIPs []netip.Prefix

// ParseSourceIPs parses a sourceIp value: IPv4 or IPv6 addresses and CIDR
// ranges separated by single commas, without spaces, at most MaxSourceIPs.
// A range with host bits set, such as 10.1.2.3/8, is taken as its network;
// an IPv4-mapped IPv6 address as its IPv4 address.
func ParseSourceIPs(s string) (SourceIPs, error) {
	switch {
	case s == "":
		return nil, errors.New("must list at least one IP address or CIDR range")
	case strings.ContainsAny(s, " \t\r\n"):
		return nil, errors.New("must not contain spaces")
	}
	entries := strings.Split(s, ",")
	if len(entries) > MaxSourceIPs {
		return nil, fmt.Errorf("lists %d entries; at most %d are allowed", len(entries), MaxSourceIPs)
	}
	out := make(SourceIPs, len(entries))
	for i, e := range entries {
		var err error
		if out[i], err = parsePrefix(e); err != nil {
			return nil, fmt.Errorf("entry %d (%q) is not an IP address or CIDR range", i+1, e)
		}
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, errors.New("not an address")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Contains reports whether ip is one of the addresses or inside one of the
// ranges.
func (s SourceIPs) Contains(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	return slices.ContainsFunc(s, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// Within reports whether every range of s lies inside a range of outer.
func (s SourceIPs) Within(outer SourceIPs) bool {
	for _, in := range s {
		if !slices.ContainsFunc(outer, func(out netip.Prefix) bool {
			return out.Bits() <= in.Bits() && out.Contains(in.Addr())
		}) {
			return false
		}
	}
	return true
}

// sourceIPWithin reports whether the sourceIp value inner restricts at
// least as narrowly as outer. No restriction is within only no restriction.
func sourceIPWithin(inner, outer string) bool {
	if outer == "" {
		return true
	}
	in, err1 := ParseSourceIPs(inner)
	out, err2 := ParseSourceIPs(outer)
	return err1 == nil && err2 == nil && in.Within(out)
}

// resourcesWithin reports whether every resource id of inner is one outer
// lists under the same type. No restriction is within only no restriction.
func resourcesWithin(inner, outer []Resource) bool {
	if len(outer) == 0 {
		return true
	}
	if len(inner) == 0 {
		return false
	}
	for _, r := range inner {
		for _, id := range r.IDs {
			if !slices.ContainsFunc(outer, func(o Resource) bool { return o.Type == r.Type && slices.Contains(o.IDs, id) }) {
				return false
			}
		}
	}
	return true
}

var resourceID = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

func checkResources(rs []Resource) Errors {
	if len(rs) > MaxResources {
		return Errors{FieldErrorf("resources", "resources lists %d entries; at most %d are allowed", len(rs), MaxResources)}
	}
	var errs Errors
	for i, r := range rs {
		field := fmt.Sprintf("resources/%d", i)
		if !slices.Contains(ResourceTypes, r.Type) {
			errs = append(errs, FieldErrorf(field+"/type", "resource type must be one of %s", QuoteList(ResourceTypes)))
		}
		switch {
		case len(r.IDs) == 0:
			errs = append(errs, FieldErrorf(field+"/ids", "ids must list at least one id"))
		case len(r.IDs) > MaxResourceIDs:
			errs = append(errs, FieldErrorf(field+"/ids", "ids lists %d ids; at most %d are allowed", len(r.IDs), MaxResourceIDs))
		}
		for j, id := range r.IDs {
			if len(id) > MaxResourceIDLength || !resourceID.MatchString(id) {
				errs = append(errs, FieldErrorf(fmt.Sprintf("%s/ids/%d", field, j),
					"id must be 1 to %d letters, digits or . _ : -", MaxResourceIDLength))
			}
		}
	}
	return errs
}
