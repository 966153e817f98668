package policy

import "slices"

// User claims a scope may release.
const (
	ClaimName              = "name"
	ClaimPreferredUsername = "preferred_username"
	ClaimUpdatedAt         = "updated_at"
	ClaimEmail             = "email"
	ClaimEmailVerified     = "email_verified"
	ClaimGroups            = "groups"
)

// ReleasableClaims are the user claims a scope may release: the claims of
// BuiltinScopes, and all a configured scope may list. Discovery's
// claims_supported lists them in this order, after ProtocolClaims.
var ReleasableClaims = []string{
	ClaimName, ClaimPreferredUsername, ClaimUpdatedAt,
	ClaimEmail, ClaimEmailVerified,
	ClaimGroups,
}

// ProtocolClaims are the claims of ID tokens that no scope governs.
var ProtocolClaims = []string{
	"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "sid",
}

// IsReleasableClaim reports whether a scope may release the claim name.
func IsReleasableClaim(name string) bool {
	return slices.Contains(ReleasableClaims, name)
}

// SupportedClaims returns discovery's claims_supported: ProtocolClaims, then
// ReleasableClaims.
func SupportedClaims() []string {
	return slices.Concat(ProtocolClaims, ReleasableClaims)
}
