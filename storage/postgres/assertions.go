package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/signet-idp/signet/storage"
)

// UseAssertionJTI records jti as used by clientID until expiresAt; a pair
// already recorded is storage.ErrReused. One conditional insert: of two
// replicas inserting the same pair, the primary key lets exactly one in.
func (s *Store) UseAssertionJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	if err := checkKey(clientID); err != nil {
		return fmt.Errorf("postgres: use assertion jti: client id: %w", err)
	}
	if err := checkKey(jti); err != nil {
		return fmt.Errorf("postgres: use assertion jti: %w", err)
	}
	tag, err := s.pool.Exec(ctx, "INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
		clientID, jti, ts(expiresAt))
	if err != nil {
		return fmt.Errorf("postgres: use assertion jti of client %q: %w", clientID, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: use assertion jti of client %q: %w", clientID, storage.ErrReused)
	}
	return nil
}
