package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"

	"github.com/tokend/tokend/internal/apitoken"
)

// Guard keeps webhook deliveries away from the networks a webhook's owner
// should not reach through tokend (server-side request forgery): loopback,
// private, link-local, shared (CGNAT), unspecified, multicast and cloud
// metadata addresses. It checks a URL's host when a webhook is saved and,
// since a name may resolve elsewhere by the time of a delivery (DNS
// rebinding), the address of every connection a delivery makes.
type Guard struct {
	// AllowPrivate lets webhooks reach any address
	// (TOKEND_WEBHOOK_ALLOW_PRIVATE), for tests and closed networks.
	AllowPrivate bool
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// refused are the ranges Guard refuses beyond what netip.Addr's
// predicates name.
var refused = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),         // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),     // shared address space (CGNAT)
	netip.MustParsePrefix("192.0.0.0/24"),      // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),     // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),       // reserved, and broadcast
	netip.MustParsePrefix("fd00:ec2::254/128"), // AWS metadata over IPv6 (also private)
	netip.MustParsePrefix("64:ff9b::/96"),      // NAT64 of IPv4 addresses
	netip.MustParsePrefix("2002::/16"),         // 6to4 of IPv4 addresses
}

// metadata is the cloud metadata address (also link-local).
var metadata = netip.MustParseAddr("169.254.169.254")

// Permitted reports why a delivery may not connect to the address, or nil
// if it may.
func (g *Guard) Permitted(addr netip.Addr) error {
	if g.AllowPrivate {
		return nil
	}
	a := addr.Unmap()
	switch {
	case !a.IsValid():
		return errors.New("no address")
	case a == metadata:
		return fmt.Errorf("%s is a cloud metadata address", a)
	case a.IsLoopback():
		return fmt.Errorf("%s is a loopback address", a)
	case a.IsPrivate():
		return fmt.Errorf("%s is a private address", a)
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return fmt.Errorf("%s is a link-local address", a)
	case a.IsUnspecified():
		return fmt.Errorf("%s is an unspecified address", a)
	case a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return fmt.Errorf("%s is a multicast address", a)
	}
	for _, p := range refused {
		if p.Contains(a) {
			return fmt.Errorf("%s is in the reserved range %s", a, p)
		}
	}
	return nil
}

// CheckURL resolves the URL's host and returns an unprocessable error on
// the url attribute if any of its addresses is refused or it resolves to
// none.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	if g.AllowPrivate {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return apitoken.FieldErrorf("url", "url must be an absolute http or https URL")
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		r := g.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		if addrs, err = r.LookupNetIP(ctx, "ip", host); err != nil || len(addrs) == 0 {
			return &apitoken.Error{Code: apitoken.Unprocessable, Field: "url",
				Detail: fmt.Sprintf("The host %q of url could not be resolved.", host), Err: err}
		}
	}
	for _, a := range addrs {
		if err := g.Permitted(a); err != nil {
			return &apitoken.Error{Code: apitoken.Unprocessable, Field: "url",
				Detail: fmt.Sprintf("url must not reach a loopback, private, link-local, shared or metadata address: %s.", err)}
		}
	}
	return nil
}

// Control is a net.Dialer Control function that refuses a connection to
// an address Permitted refuses: the check made after resolution, at
// connect time, so that a name resolving to a public address when the
// webhook was saved and to a private one now is still refused.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: refused address %q", address)
	}
	if err := g.Permitted(ap.Addr()); err != nil {
		return fmt.Errorf("webhook: refused connection: %w", err)
	}
	return nil
}
