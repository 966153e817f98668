package policy

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
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

// MaxRedirectURILen bounds a registered redirect URI.
const MaxRedirectURILen = 2048

// CheckRedirectURI applies the registration rules of OAuth 2.0 Security BCP and
// RFC 8252 to one redirect URI: absolute, no fragment, no user info; https; http
// only to a loopback host (IsLoopbackHost); and for public (native) clients a
// private-use scheme in reverse domain form (containing a dot, such as
// com.example.app:/callback). The error says what is wrong, for the operator;
// its message starts with "redirect URI".
func CheckRedirectURI(raw string, public bool) error {
	if raw == "" || len(raw) > MaxRedirectURILen {
		return fmt.Errorf("redirect URI must be 1 to %d characters", MaxRedirectURILen)
	}
	if strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 || !utf8.ValidString(raw) {
		return fmt.Errorf("redirect URI %q contains spaces or control characters", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("redirect URI %q does not parse as a URI", raw)
	}
	if u.Scheme == "" {
		return fmt.Errorf("redirect URI %q must be absolute (with a scheme such as https://)", raw)
	}
	if strings.Contains(raw, "#") {
		return fmt.Errorf("redirect URI %q must not contain a fragment (#)", raw)
	}
	if u.User != nil {
		return fmt.Errorf("redirect URI %q must not contain user info (user@)", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Hostname() == "" {
			return fmt.Errorf("redirect URI %q has no host", raw)
		}
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("redirect URI %q: http is only allowed for loopback hosts (127.0.0.1, [::1], localhost); use https", raw)
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Errorf("redirect URI %q: scheme %q is not https, http to loopback, or a reverse-domain private-use scheme such as com.example.app", raw, u.Scheme)
		}
		if !public {
			return fmt.Errorf("redirect URI %q: private-use schemes are for native apps, which must be public clients (--public)", raw)
		}
	}
	return nil
}

// RedirectRegistered reports whether uri, as presented at the authorization
// endpoint, matches one of registered, a client's redirect URIs (public: the
// client is public). It is exact string matching, with one exception from RFC
// 8252, section 7.3: a public (native) client's http redirect URI to a loopback
// host matches with any port. Everything else (scheme, host as written, path,
// query) must still be exactly what was registered, so http://[::1]:8080/cb
// matches http://[::1]/cb but neither http://[0:0:0:0:0:0:0:1]:8080/cb nor
// http://127.0.0.1:8080/cb.
func RedirectRegistered(registered []string, public bool, uri string) bool {
	if strings.Contains(uri, "#") {
		return false
	}
	if slices.Contains(registered, uri) {
		return true
	}
	if !public {
		return false
	}
	want, ok := loopbackWithoutPort(uri)
	if !ok {
		return false
	}
	for _, reg := range registered {
		if k, ok := loopbackWithoutPort(reg); ok && k == want {
			return true
		}
	}
	return false
}

// loopbackWithoutPort returns uri without its port when it is an http URI to a
// loopback host (IsLoopbackHost) with no user info, no fragment and a port of 1
// to 65535 in decimal, or none. uri must also be written the way url.URL writes
// it back (lower-case scheme, no needless escapes in the host), so that two URIs
// that differ in more than the port never give the same result.
func loopbackWithoutPort(uri string) (string, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.Opaque != "" || u.User != nil || u.Fragment != "" ||
		strings.Contains(uri, "#") || u.String() != uri {
		return "", false
	}
	host := u.Hostname()
	if !IsLoopbackHost(host) {
		return "", false
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", false
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", false // an empty port: not the URI registered without one
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6: Hostname dropped the brackets
	}
	bare := url.URL{Scheme: u.Scheme, Host: host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery, ForceQuery: u.ForceQuery}
	return bare.String(), true
}
