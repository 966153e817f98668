package policy

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how much of X-Forwarded-For is read.
const maxForwardedHops = 32

// ClientAddress is the client's IP address: the peer's, or, when the peer is a
// trusted proxy (config trusted_proxies), the nearest address in
// X-Forwarded-For that is not one (at most 32 hops are read). Without trusted
// proxies forwarding headers are ignored, since anyone can send them. The
// access log and the throttles ask this one rule, so that they agree on who a
// client is.
func ClientAddress(r *http.Request, trusted []netip.Prefix) string {
	host := HostOf(r.RemoteAddr)
	if !Trusted(trusted, host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0 && i >= len(hops)-maxForwardedHops; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			break
		}
		if !Trusted(trusted, hop) {
			return hop
		}
		host = hop
	}
	return host
}

// Trusted reports whether addr, an IP address, is in one of the trusted
// prefixes (an IPv4-mapped IPv6 address counts as its IPv4 address).
func Trusted(trusted []netip.Prefix, addr string) bool {
	if len(trusted) == 0 {
		return false
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// HostOf is the host of a host:port address, or the address itself when it
// has no port.
func HostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
