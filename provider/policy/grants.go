package policy

import "slices"

// Grant types a client may be registered for.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	// GrantRefreshToken comes with the authorization code and device grants;
	// it is never registered on its own.
	GrantRefreshToken = "refresh_token"
)

// RegistrableGrants are the grant types `client add --grant` accepts.
var RegistrableGrants = []string{GrantAuthorizationCode, GrantClientCredentials, GrantDeviceCode}

// GrantAllowed reports whether a client registered for grants may use grant.
// No grants means the authorization code grant (with refresh tokens), as every
// client registered before grant types existed.
func GrantAllowed(grants []string, grant string) bool {
	if len(grants) == 0 {
		grants = []string{GrantAuthorizationCode}
	}
	if grant == GrantRefreshToken {
		return slices.Contains(grants, GrantAuthorizationCode) || slices.Contains(grants, GrantDeviceCode)
	}
	return slices.Contains(grants, grant)
}
