package admin

import (
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

// validateRedirectURI checks one redirect URI against the registration rules
// of policy.CheckRedirectURI, as an ErrInvalid error.
func validateRedirectURI(raw string, public bool) error {
	if err := policy.CheckRedirectURI(raw, public); err != nil {
		return &Error{Kind: KindInvalid, Msg: err.Error()}
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
