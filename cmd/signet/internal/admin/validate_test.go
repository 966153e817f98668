package admin

import (
	"errors"
	"testing"
)

// TestValidateRedirectURI: registration applies policy.CheckRedirectURI (its
// own tests hold the rules) and refuses with ErrInvalid and policy's message.
func TestValidateRedirectURI(t *testing.T) {
	for _, uri := range []string{"http://[::1]/cb", "https://app.example/cb", "com.example.app:/cb"} {
		if err := validateRedirectURI(uri, true); err != nil {
			t.Errorf("validateRedirectURI(%q, public) = %v, want nil", uri, err)
		}
	}
	err := validateRedirectURI("http://[::1%25lo]/cb", true)
	const msg = `redirect URI "http://[::1%25lo]/cb": http is only allowed for loopback hosts (127.0.0.1, [::1], localhost); use https`
	if !errors.Is(err, ErrInvalid) || err.Error() != msg {
		t.Errorf("validateRedirectURI(zoned [::1]) = %v, want ErrInvalid: %s", err, msg)
	}
	err = validateRedirectURI("com.example.app:/cb", false)
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("validateRedirectURI(private-use, confidential) = %v, want ErrInvalid", err)
	}
}
