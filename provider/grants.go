package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/signet-idp/signet/storage"
)

// RevokeGrant takes back what a person approved for a client: it deletes the
// remembered consent and revokes every refresh family (and with them every access
// token) of that client for that person. A missing grant is not an error when
// tokens were revoked; ErrNotFound is returned only when there was nothing at all.
func (p *Provider) RevokeGrant(ctx context.Context, userID, clientID string) error {
	grantErr := p.store.DeleteGrant(ctx, userID, clientID)
	if grantErr != nil && !errors.Is(grantErr, storage.ErrNotFound) {
		return fmt.Errorf("revoke grant: %w", grantErr)
	}
	fams, err := p.store.ListUserFamilies(ctx, userID)
	if err != nil {
		return fmt.Errorf("revoke grant: %w", err)
	}
	revoked := 0
	for _, f := range fams {
		if f.ClientID != clientID || f.Revoked {
			continue
		}
		if err := p.store.RevokeRefreshFamily(ctx, f.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("revoke grant: %w", err)
		}
		revoked++
	}
	if grantErr != nil && revoked == 0 {
		return fmt.Errorf("revoke grant: %w", storage.ErrNotFound)
	}
	slog.InfoContext(ctx, "grant revoked", "event", "revoke_grant", "subject", userID, "client", clientID, "families", revoked)
	return nil
}
