package policy

import (
	"net/url"
	"slices"
	"strings"
)

// PathCallback is the provider's authorization callback, relative to the
// issuer: the login UI sends the browser there once an auth request is done.
const PathCallback = "/authorize/callback"

// CallbackURL is where the login UI sends the browser once the auth request
// authRequestID is done: the callback under the issuer's path basePath.
func CallbackURL(basePath, authRequestID string) string {
	return basePath + PathCallback + "?id=" + url.QueryEscape(authRequestID)
}

// ErrorRedirectURL builds the redirect that returns an authorization error to the
// client, with the issuer (RFC 9207). redirectURI must already be known to be
// registered for it.
func ErrorRedirectURL(issuer, redirectURI, state, errCode, description string) string {
	v := url.Values{}
	v.Set("error", errCode)
	if description != "" {
		v.Set("error_description", description)
	}
	if state != "" {
		v.Set("state", state)
	}
	v.Set("iss", issuer)
	return AppendQuery(redirectURI, v)
}

// AppendQuery adds v to the query of uri, which may already have one.
func AppendQuery(uri string, v url.Values) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + v.Encode()
}

// PostLogoutRedirect returns where to send the browser after logout: uri with
// state, when uri is registered exactly among registered (the client's
// post_logout_redirect_uris) and has no fragment; otherwise "".
func PostLogoutRedirect(registered []string, uri, state string) string {
	if uri == "" || strings.Contains(uri, "#") || !slices.Contains(registered, uri) {
		return ""
	}
	if state == "" {
		return uri
	}
	return AppendQuery(uri, url.Values{"state": {state}})
}
