package account

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/signet-idp/signet/storage"
)

// logoutGiveUp is how long a queued back-channel logout notice is retried
// before it is abandoned (its ExpiresAt).
const logoutGiveUp = 24 * time.Hour

// Ender ends access for the running server: browser sessions (queueing their
// back-channel logout notices) and grants. The pages, the admin service and the
// janitor share one, and the provider's delivery loop listens on Queued, so a
// notice goes out at once rather than at the next poll.
type Ender struct {
	store  storage.Store
	log    *slog.Logger
	now    func() time.Time
	queued chan struct{}
}

// New returns an Ender on store; now is the clock (time.Now when nil) and log
// receives what it ends and the errors it gets past (nothing when nil).
func New(store storage.Store, log *slog.Logger, now func() time.Time) *Ender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Ender{store: store, log: log, now: now, queued: make(chan struct{}, 1)}
}

// Queued receives a value after a session ended with notices to deliver (one
// value stands for any number of endings since it was last received).
func (e *Ender) Queued() <-chan struct{} { return e.queued }

// EndSession ends a browser session: it queues a back-channel logout notice for
// every client that received tokens in it and registered a
// backchannel_logout_uri, deletes it, and revokes the refresh tokens granted in
// it without offline_access. Delivery is the provider's, in the background: it
// never blocks the person's logout.
func (e *Ender) EndSession(ctx context.Context, s *storage.Session) error {
	n, err := EndSession(ctx, e.store, e.log, s, e.now().UTC())
	if n > 0 {
		select {
		case e.queued <- struct{}{}:
		default:
		}
	}
	return err
}

// RevokeGrant takes back what a person approved for a client (see RevokeGrant).
func (e *Ender) RevokeGrant(ctx context.Context, userID, clientID string) error {
	return RevokeGrant(ctx, e.store, e.log, userID, clientID)
}

// EndSession is Ender.EndSession without a server listening: the notices it
// queues go out when a server runs. A cancelled request does not stop halfway,
// so an ended session never leaves live tokens behind. It reports how many
// notices it queued.
func EndSession(ctx context.Context, store storage.Store, log *slog.Logger, s *storage.Session, now time.Time) (int, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx = context.WithoutCancel(ctx)
	// The notices are queued first: if anything fails before the session is
	// gone, the person can try again and nothing is lost (a notice sent twice
	// is harmless).
	notified := map[string]bool{}
	n, err := queueLogouts(ctx, store, s, now, notified)
	if err != nil {
		return 0, fmt.Errorf("end session: %w", err)
	}
	// Then the session: a code redeemed from now on sees it gone afterwards
	// and revokes its own tokens (the provider's exchangeCode), one redeemed
	// before is among the families listed next, and a refresh of a family that
	// an interrupted logout left behind finds no session.
	if err := store.DeleteSession(ctx, s.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return n, fmt.Errorf("end session: %w", err)
	}
	// The session is gone, so a failure from here on cannot be retried by
	// the person: log it and go on (refresh of these families is refused
	// anyway, for want of the session).
	fams, err := store.ListUserFamilies(ctx, s.UserID)
	if err != nil {
		log.ErrorContext(ctx, "end session: list refresh families", "subject", s.UserID, "error", err)
	}
	for _, f := range fams {
		if f.SessionSID == s.SID && !f.Offline && !f.Revoked {
			if err := store.RevokeRefreshFamily(ctx, f.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
				log.ErrorContext(ctx, "end session: revoke refresh family", "subject", s.UserID, "error", err)
			}
		}
	}
	// A client that received tokens while the first notices were queued.
	more, err := queueLogouts(ctx, store, s, now, notified)
	if err != nil {
		log.ErrorContext(ctx, "end session: queue back-channel logout", "subject", s.UserID, "error", err)
	}
	log.InfoContext(ctx, "session ended", "event", "logout", "subject", s.UserID, "notified_clients", n+more)
	return n + more, nil
}

// queueLogouts queues a back-channel logout notice for every client of the
// session with a backchannel_logout_uri that is not yet in notified, and adds
// them to it.
func queueLogouts(ctx context.Context, store storage.Store, s *storage.Session, now time.Time, notified map[string]bool) (int, error) {
	clients, err := store.ListSessionClients(ctx, s.SID)
	if err != nil {
		return 0, err
	}
	var ds []*storage.LogoutDelivery
	for _, id := range clients {
		if notified[id] {
			continue
		}
		c, err := store.GetClient(ctx, id)
		if err != nil || c.BackchannelLogoutURI == "" {
			continue
		}
		ds = append(ds, &storage.LogoutDelivery{
			ID: randomID(), ClientID: id, SID: s.SID, Subject: s.UserID,
			CreatedAt: now, NextAttempt: now, ExpiresAt: now.Add(logoutGiveUp),
		})
	}
	if len(ds) > 0 {
		if err := store.EnqueueLogouts(ctx, ds); err != nil {
			return 0, err
		}
	}
	for _, d := range ds {
		notified[d.ClientID] = true
	}
	return len(ds), nil
}

// randomID returns a 128-bit random id, base64url.
func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// RevokeGrant takes back what a person approved for a client: it deletes the
// remembered consent, then revokes every refresh family (and with them every
// access token) of that client for that person. ErrNotFound means there was
// nothing at all to revoke. The grant goes first, then the tokens, and a
// cancelled request does not stop halfway, so the app never keeps working
// tokens once its grant is gone.
func RevokeGrant(ctx context.Context, store storage.Store, log *slog.Logger, userID, clientID string) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx = context.WithoutCancel(ctx)
	// The grant goes first: a code redeemed meanwhile sees it gone afterwards
	// and revokes its own tokens (the provider's exchangeCode), and one
	// redeemed before is among the families listed next.
	grantErr := store.DeleteGrant(ctx, userID, clientID)
	if grantErr != nil && !errors.Is(grantErr, storage.ErrNotFound) {
		return fmt.Errorf("revoke grant: %w", grantErr)
	}
	fams, err := store.ListUserFamilies(ctx, userID)
	if err != nil {
		return fmt.Errorf("revoke grant: %w", err)
	}
	revoked := 0
	for _, f := range fams {
		if f.ClientID != clientID || f.Revoked {
			continue
		}
		if err := store.RevokeRefreshFamily(ctx, f.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("revoke grant: %w", err)
		}
		revoked++
	}
	if grantErr != nil && revoked == 0 {
		return fmt.Errorf("revoke grant: %w", storage.ErrNotFound)
	}
	log.InfoContext(ctx, "grant revoked", "event", "revoke_grant", "subject", userID, "client", clientID, "families", revoked)
	return nil
}
