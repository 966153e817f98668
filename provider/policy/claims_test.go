package policy

import (
	"slices"
	"testing"
)

// TestReleasableClaims fails when the claims a scope may release drift from
// what the built-in scopes release or from discovery's claims_supported.
func TestReleasableClaims(t *testing.T) {
	t.Parallel()
	// Every releasable claim is released by a built-in scope, in the same order.
	var builtin []string
	for _, s := range BuiltinScopes {
		for _, c := range s.Claims {
			if !slices.Contains(builtin, c) {
				builtin = append(builtin, c)
			}
		}
	}
	if !slices.Equal(builtin, ReleasableClaims) {
		t.Errorf("built-in scopes release %q, ReleasableClaims are %q", builtin, ReleasableClaims)
	}
	for _, c := range ReleasableClaims {
		if !IsReleasableClaim(c) {
			t.Errorf("IsReleasableClaim(%q) = false", c)
		}
		if slices.Contains(ProtocolClaims, c) {
			t.Errorf("%q is both a protocol claim and a releasable one", c)
		}
	}
	for _, c := range []string{"", "sub", "Name", "address", "phone_number"} {
		if IsReleasableClaim(c) {
			t.Errorf("IsReleasableClaim(%q) = true", c)
		}
	}
	// Discovery's claims_supported, as provider/testdata/wire.golden has it.
	want := []string{
		"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "sid",
		"name", "preferred_username", "updated_at", "email", "email_verified", "groups",
	}
	if got := SupportedClaims(); !slices.Equal(got, want) {
		t.Errorf("SupportedClaims() = %q, want %q", got, want)
	}
	sorted := slices.Sorted(slices.Values(SupportedClaims()))
	if len(slices.Compact(sorted)) != len(want) {
		t.Errorf("SupportedClaims() has duplicates: %q", SupportedClaims())
	}
}
