package policy

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientAddress(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	many := strings.Repeat("10.0.0.9, ", 40) + "10.0.0.8"
	for _, c := range []struct {
		name, remote string
		xff          []string
		trusted      []netip.Prefix
		want         string
	}{
		{"no proxies: the header is ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, nil, "203.0.113.5"},
		{"untrusted peer: the header is ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, proxies, "203.0.113.5"},
		{"trusted peer: the nearest untrusted hop", "10.1.2.3:4000", []string{"198.51.100.1, 192.0.2.7, 10.0.0.2"}, proxies, "192.0.2.7"},
		{"headers given twice are one list", "10.1.2.3:4000", []string{"198.51.100.1", "192.0.2.7"}, proxies, "192.0.2.7"},
		{"a hop that is not an address stops the walk", "10.1.2.3:4000", []string{"198.51.100.1, garbage, 10.0.0.2"}, proxies, "10.0.0.2"},
		{"all hops trusted: the farthest read", "10.1.2.3:4000", []string{"10.0.0.5, 10.0.0.2"}, proxies, "10.0.0.5"},
		{"at most 32 hops are read", "10.1.2.3:4000", []string{"198.51.100.1, " + many}, proxies, "10.0.0.9"},
		{"IPv6 peer", "[::1]:4000", []string{"2001:db8::1"}, proxies, "2001:db8::1"},
		{"IPv4-mapped peer counts as IPv4", "[::ffff:10.1.2.3]:4000", []string{"192.0.2.7"}, proxies, "192.0.2.7"},
		{"no port", "203.0.113.5", nil, proxies, "203.0.113.5"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := ClientAddress(r, c.trusted); got != c.want {
			t.Errorf("%s: ClientAddress = %q, want %q", c.name, got, c.want)
		}
	}
}
