package policy

import "slices"

// ScopeOpenID is the scope every OpenID Connect request carries; a client
// limited to some scopes may always ask for it.
const ScopeOpenID = "openid"

// Scope is a built-in scope: always offered, so a configured scope may not reuse
// its name.
type Scope struct {
	Name string
	// Description is what the consent page says the app may then do.
	Description string
	// Optional scopes may be unticked on the consent page.
	Optional bool
	// Claims are the user claims the scope releases, in the ID token and
	// userinfo (and the JWT access token for groups).
	Claims []string
}

// BuiltinScopes are the scopes Signet always offers, in the order the consent
// page shows them.
var BuiltinScopes = []Scope{
	{Name: ScopeOpenID, Description: "Know who you are (your Signet account identifier)"},
	{Name: "profile", Description: "See your name and username", Optional: true,
		Claims: []string{ClaimName, ClaimPreferredUsername, ClaimUpdatedAt}},
	{Name: "email", Description: "See your email address and whether it is verified", Optional: true,
		Claims: []string{ClaimEmail, ClaimEmailVerified}},
	{Name: "groups", Description: "See which groups you belong to", Optional: true,
		Claims: []string{ClaimGroups}},
	{Name: "offline_access", Description: "Keep access while you are not using the app", Optional: true},
}

// BuiltinScopeNames returns the names of BuiltinScopes, in order.
func BuiltinScopeNames() []string {
	out := make([]string, len(BuiltinScopes))
	for i, s := range BuiltinScopes {
		out[i] = s.Name
	}
	return out
}

// IsBuiltinScope reports whether name is a built-in scope.
func IsBuiltinScope(name string) bool {
	for _, s := range BuiltinScopes {
		if s.Name == name {
			return true
		}
	}
	return false
}

// ClientMayAsk reports whether a client limited to the scopes allowed may ask
// for scope on a person's behalf (at /authorize and the device authorization
// endpoint): any scope when allowed is empty, otherwise openid and the allowed
// ones. Whether the scope is offered at all is asked separately.
func ClientMayAsk(allowed []string, scope string) bool {
	return len(allowed) == 0 || scope == ScopeOpenID || slices.Contains(allowed, scope)
}
