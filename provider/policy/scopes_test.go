package policy

import "testing"

func TestClientMayAsk(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		allowed []string
		scope   string
		want    bool
	}{
		{nil, "openid", true},
		{nil, "calendar.read", true},
		{[]string{}, "profile", true},
		{[]string{"calendar.read"}, "openid", true},
		{[]string{"calendar.read"}, "calendar.read", true},
		{[]string{"calendar.read"}, "profile", false},
		{[]string{"calendar.read"}, "offline_access", false},
		{[]string{"calendar.read"}, "calendar.write", false},
		{[]string{"calendar.read"}, "", false},
	} {
		if got := ClientMayAsk(tc.allowed, tc.scope); got != tc.want {
			t.Errorf("ClientMayAsk(%q, %q) = %v, want %v", tc.allowed, tc.scope, got, tc.want)
		}
	}
}
