package postgres

import (
	"context"
	"fmt"

	"github.com/signet-idp/signet/storage"
)

// GetUserSessionBySID returns the user's session whose public id is sid,
// expired or not, or storage.ErrNotFound: the person's sessions through the
// user_id index, matched on the record's sid.
func (s *Store) GetUserSessionBySID(ctx context.Context, userID, sid string) (*storage.Session, error) {
	if !lookable(userID) || sid == "" {
		return nil, fmt.Errorf("postgres: get session by sid: %w", storage.ErrNotFound)
	}
	sess, err := getJSON[storage.Session](ctx, s.pool,
		"SELECT data FROM sessions WHERE user_id = $1 AND data->>'SID' = $2 LIMIT 1", userID, sid)
	if err != nil {
		return nil, fmt.Errorf("postgres: get session of user %q by sid: %w", userID, mapErr(err))
	}
	return sess, nil
}
