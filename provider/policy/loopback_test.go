package policy

import "testing"

func TestIsLoopbackHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.0.0.2", true},
		{"127.255.255.254", true},
		{"::1", true},
		{"0:0:0:0:0:0:0:1", true},
		{"::ffff:127.0.0.1", true},
		{"localhost", true},
		{"LocalHost", true},

		{"", false},
		{"[::1]", false}, // brackets belong to the URL, not the host
		{"::1%eth0", false},
		{"::2", false},
		{"::", false},
		{"0.0.0.0", false},
		{"128.0.0.1", false},
		{"10.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"127.1", false},
		{"0177.0.0.1", false},
		{"127.0.0.1.", false},
		{"localhost.", false},
		{"localhost.example.com", false},
		{"127.0.0.1.nip.io", false},
		{"example.com", false},
	} {
		if got := IsLoopbackHost(tc.host); got != tc.want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}
