package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/signet-idp/signet/storage"
)

// RevokeGrant takes back what a person approved for a client: it deletes the
// remembered consent, then revokes every refresh family (and with them every
// access token) of that client for that person. ErrNotFound means there was
// nothing at all to revoke.
func (p *Provider) RevokeGrant(ctx context.Context, userID, clientID string) error {
	return RevokeGrant(ctx, p.store, p.log, userID, clientID)
}

// RevokeGrant is Provider.RevokeGrant on a store alone (the CLI without a
// server). The grant goes first, then the tokens, and a cancelled request does
// not stop halfway, so the app never keeps working tokens once its grant is
// gone.
func RevokeGrant(ctx context.Context, store storage.Store, log *slog.Logger, userID, clientID string) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx = context.WithoutCancel(ctx)
	// The grant goes first: a code redeemed meanwhile sees it gone afterwards
	// and revokes its own tokens (see exchangeCode), and one redeemed before
	// is among the families listed next.
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
