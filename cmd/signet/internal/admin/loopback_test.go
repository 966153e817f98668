package admin

import (
	"errors"
	"testing"
)

// TestValidateRedirectURILoopback: http is accepted for exactly the hosts that
// the authorization endpoint treats as loopback (policy.IsLoopbackHost), so a
// native app can register http://[::1]/cb and use any port with it.
func TestValidateRedirectURILoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"http://[::1]/cb", true},
		{"http://[::1]:8080/cb", true},
		{"http://[0:0:0:0:0:0:0:1]/cb", true},
		{"http://127.0.0.1/cb", true},
		{"http://127.8.9.10:9/cb", true},
		{"http://localhost/cb", true},
		{"http://[::1%25lo]/cb", false},
		{"http://[::2]/cb", false},
		{"http://127.1/cb", false},
		{"http://0177.0.0.1/cb", false},
		{"http://0.0.0.0/cb", false},
		{"http://localhost./cb", false},
	} {
		for _, public := range []bool{true, false} {
			err := validateRedirectURI(tc.uri, public)
			if tc.ok && err != nil {
				t.Errorf("validateRedirectURI(%q, public=%v) = %v, want nil", tc.uri, public, err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalid) {
				t.Errorf("validateRedirectURI(%q, public=%v) = %v, want ErrInvalid", tc.uri, public, err)
			}
		}
	}
}
