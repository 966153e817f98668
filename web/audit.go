package web

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Why a sign-in failed, for the audit line only: the person always reads the
// same generic message. Each wraps errBadCredentials, so callers that only ask
// "did the credentials fail?" need not know the reasons.
var (
	errUnknownUser   = fmt.Errorf("%w: unknown user", errBadCredentials)
	errWrongPassword = fmt.Errorf("%w: wrong password", errBadCredentials)
	errDisabledUser  = fmt.Errorf("%w: disabled user", errBadCredentials)
	errAccountLocked = fmt.Errorf("%w: account locked", errBadCredentials)
)

// failureReason is the reason class of a failed sign-in for the audit log:
// unknown_user, wrong_password, disabled, locked (or error).
func failureReason(err error) string {
	switch {
	case errors.Is(err, errAccountLocked):
		return "locked"
	case errors.Is(err, errDisabledUser):
		return "disabled"
	case errors.Is(err, errUnknownUser):
		return "unknown_user"
	case errors.Is(err, errWrongPassword), errors.Is(err, errBadCredentials):
		return "wrong_password"
	}
	return "error"
}

// auditUsername is the attempted username as the audit line shows it: at most
// 64 bytes of valid UTF-8 (someone may paste anything, a password included,
// into the field: the line must stay short).
func auditUsername(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return strings.ToValidUTF8(s, "?")
}
