// Package account owns what ends access a person has given out: ending a browser
// session (queueing its back-channel logout notices, revoking the refresh tokens
// bound to it), revoking a grant to a client (and its tokens), and what a change
// to a person's credentials does: a new password ends every session (but the one
// that made the change, when there is one), revokes every refresh token, offline
// ones included, and every access token, and forgets a second factor waiting for
// confirmation. The pages, the admin service (and so the CLI) and the provider's
// janitor all go through it, so they cannot drift apart.
//
// It does not hash passwords (web/credentials/password does), find the browser's
// session (web/session does) nor deliver the logout notices it queues: the
// provider signs and sends them, woken by Ender.Queued.
package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/credentials/totp"
)

// SessionEnder ends one browser session, with back-channel logout notices to the
// clients that used it (*Ender; tests may record instead).
type SessionEnder interface {
	EndSession(ctx context.Context, s *storage.Session) error
}

// Ended counts what a credential change ended.
type Ended struct {
	// Sessions is the number of browser sessions ended.
	Sessions int `json:"sessions"`
	// RefreshFamilies is the number of refresh-token grants revoked (each with
	// every refresh and access token issued from it).
	RefreshFamilies int `json:"refresh_families"`
}

// SetPassword stores a new password hash for userID and ends the access given out
// under the old one. keepSID is the session that made the change (the account
// page), which stays signed in; empty ends every session. now is the change's
// time: from it on, every token issued before is refused (User.TokensValidAfter),
// whatever happens to the steps after the password is stored.
func SetPassword(ctx context.Context, store storage.Store, end SessionEnder, userID, hash, keepSID string, now time.Time) (Ended, error) {
	now = now.UTC()
	if _, err := store.UpdateUser(ctx, userID, func(u *storage.User) error {
		u.PasswordHash = hash
		u.UpdatedAt = now
		u.TokensValidAfter = now
		totp.ClearPending(&u.TOTP)
		return nil
	}); err != nil {
		return Ended{}, err
	}
	return EndAccess(ctx, store, end, userID, keepSID)
}

// EndSessions ends every session of userID but keepSID (empty: all), each
// through end (with its back-channel notices; nil: simply deleted), and reports
// how many ended.
func EndSessions(ctx context.Context, store storage.Store, end SessionEnder, userID, keepSID string) (int, error) {
	sessions, err := store.ListUserSessions(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("list sessions: %w", err)
	}
	n := 0
	for _, s := range sessions {
		if keepSID != "" && s.SID == keepSID {
			continue
		}
		if end != nil {
			err = end.EndSession(ctx, s)
		} else {
			err = store.DeleteSession(ctx, s.ID)
		}
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return n, fmt.Errorf("end session: %w", err)
		default:
			n++
		}
	}
	return n, nil
}

// EndAccess ends every session of userID but keepSID (empty: all) and revokes
// every refresh family of the person, offline ones included.
func EndAccess(ctx context.Context, store storage.Store, end SessionEnder, userID, keepSID string) (Ended, error) {
	var n Ended
	var err error
	if n.Sessions, err = EndSessions(ctx, store, end, userID, keepSID); err != nil {
		return n, err
	}
	families, err := store.ListUserFamilies(ctx, userID)
	if err != nil {
		return n, fmt.Errorf("list refresh families: %w", err)
	}
	for _, f := range families {
		if f.Revoked {
			continue
		}
		switch err := store.RevokeRefreshFamily(ctx, f.ID); {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return n, fmt.Errorf("revoke refresh family: %w", err)
		default:
			n.RefreshFamilies++
		}
	}
	return n, nil
}
