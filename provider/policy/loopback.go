package policy

import (
	"net/netip"
	"strings"
)

// IsLoopbackHost reports whether host, as url.URL.Hostname returns it (an IPv6
// address without its brackets), names this machine's loopback interface:
// "localhost" in any letter case, an IPv4 address in 127.0.0.0/8, or ::1, also
// when written as an IPv4-mapped IPv6 address (::ffff:127.0.0.1) or in full
// (0:0:0:0:0:0:0:1). Addresses are read by net/netip, so shortened or octal IPv4
// forms (127.1, 0177.0.0.1) and IPv6 zones (::1%eth0) are not loopback hosts.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && a.Unmap().IsLoopback()
}
