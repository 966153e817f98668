package admin

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/web/credentials/password"
)

// Limits of the input management accepts.
const (
	maxUsernameLen     = 64
	maxEmailLen        = 254
	maxNameLen         = 200 // characters
	minPasswordLen     = 8   // bytes
	maxClientIDLen     = 128
	maxRedirectURIs    = 32
	maxRedirectURILen  = 2048
	defaultIDTokenAlg  = "RS256"
	defaultTokenFormat = "jwt"
)

func validateUsername(s string) error {
	if s == "" || len(s) > maxUsernameLen || !allIn(s, "._@-") {
		return invalidf("username must be 1 to %d characters of letters, digits, '.', '_', '@' and '-'", maxUsernameLen)
	}
	return nil
}

func validateEmail(s string) error {
	local, domain, ok := strings.Cut(s, "@")
	switch {
	case s == "":
		return invalidf("email is required")
	case len(s) > maxEmailLen:
		return invalidf("email must be at most %d characters", maxEmailLen)
	case !ok || local == "" || domain == "" || strings.Contains(domain, "@"):
		return invalidf("email must be of the form name@domain, with one @")
	case !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return invalidf("email must not contain spaces or control characters")
	}
	return nil
}

// validateText checks a display name: valid UTF-8, no control characters, at most
// maxNameLen characters.
func validateText(field, s string) error {
	if !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return invalidf("%s must be text without control characters", field)
	}
	if utf8.RuneCountInString(s) > maxNameLen {
		return invalidf("%s must be at most %d characters", field, maxNameLen)
	}
	return nil
}

// validatePassword checks only the length: the message never includes the password.
func validatePassword(pw string) error {
	if len(pw) < minPasswordLen || len(pw) > password.MaxLength {
		return invalidf("password must be %d to %d bytes long", minPasswordLen, password.MaxLength)
	}
	return nil
}

func validateClientID(s string) error {
	if s == "" || len(s) > maxClientIDLen || !allIn(s, "._-") {
		return invalidf("client id must be 1 to %d characters of letters, digits, '.', '_' and '-'", maxClientIDLen)
	}
	return nil
}

// validateRedirectURI applies the rules of OAuth 2.0 Security BCP and RFC 8252 to
// one redirect URI: absolute, no fragment, no user info; https; http only to a
// loopback host; and for public (native) clients a private-use scheme in reverse
// domain form (containing a dot, such as com.example.app:/callback).
func validateRedirectURI(raw string, public bool) error {
	if raw == "" || len(raw) > maxRedirectURILen {
		return invalidf("redirect URI must be 1 to %d characters", maxRedirectURILen)
	}
	if strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 || !utf8.ValidString(raw) {
		return invalidf("redirect URI %q contains spaces or control characters", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalidf("redirect URI %q does not parse as a URI", raw)
	}
	if u.Scheme == "" {
		return invalidf("redirect URI %q must be absolute (with a scheme such as https://)", raw)
	}
	if strings.Contains(raw, "#") {
		return invalidf("redirect URI %q must not contain a fragment (#)", raw)
	}
	if u.User != nil {
		return invalidf("redirect URI %q must not contain user info (user@)", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Hostname() == "" {
			return invalidf("redirect URI %q has no host", raw)
		}
	case "http":
		if !policy.IsLoopbackHost(u.Hostname()) {
			return invalidf("redirect URI %q: http is only allowed for loopback hosts (127.0.0.1, [::1], localhost); use https", raw)
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return invalidf("redirect URI %q: scheme %q is not https, http to loopback, or a reverse-domain private-use scheme such as com.example.app", raw, u.Scheme)
		}
		if !public {
			return invalidf("redirect URI %q: private-use schemes are for native apps, which must be public clients (--public)", raw)
		}
	}
	return nil
}

// allIn reports whether s holds only ASCII letters, digits and the runes of extra.
func allIn(s, extra string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}
