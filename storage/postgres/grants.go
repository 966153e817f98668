package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/signet-idp/signet/storage"
)

// PutGrant creates or replaces the grant of (user, client).
func (s *Store) PutGrant(ctx context.Context, g *storage.Grant) error {
	if err := checkKey(g.UserID); err != nil {
		return fmt.Errorf("postgres: put grant: user id: %w", err)
	}
	if err := checkKey(g.ClientID); err != nil {
		return fmt.Errorf("postgres: put grant: client id: %w", err)
	}
	data, err := encode(g)
	if err == nil {
		_, err = s.pool.Exec(ctx, `INSERT INTO grants (user_id, client_id, data) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, client_id) DO UPDATE SET data = excluded.data`, g.UserID, g.ClientID, data)
	}
	if err != nil {
		return fmt.Errorf("postgres: put grant %q/%q: %w", g.UserID, g.ClientID, mapErr(err))
	}
	return nil
}

// UpdateGrant stores what fn makes of the current grant (nil when there is
// none), atomically: the row is locked, and when there is none yet the insert
// of a concurrent approval makes this one run again on the grant it stored.
func (s *Store) UpdateGrant(ctx context.Context, userID, clientID string, fn func(*storage.Grant) (*storage.Grant, error)) (*storage.Grant, error) {
	if err := checkKey(userID); err != nil {
		return nil, fmt.Errorf("postgres: update grant: user id: %w", err)
	}
	if err := checkKey(clientID); err != nil {
		return nil, fmt.Errorf("postgres: update grant: client id: %w", err)
	}
	var next *storage.Grant
	var fnErr error
	var err error
	for range maxTxAttempts {
		err = s.tx(ctx, func(tx pgx.Tx) error {
			fnErr = nil
			cur, err := getJSON[storage.Grant](ctx, tx,
				"SELECT data FROM grants WHERE user_id = $1 AND client_id = $2 FOR NO KEY UPDATE", userID, clientID)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			if next, fnErr = fn(cur); fnErr != nil {
				return fnErr
			}
			if next == nil || next.UserID != userID || next.ClientID != clientID {
				return fmt.Errorf("grant for %q/%q: fn returned another grant", userID, clientID)
			}
			data, err := encode(next)
			if err != nil {
				return err
			}
			if cur == nil {
				// A plain insert: a grant stored meanwhile is a unique violation,
				// and the loop runs fn again on it.
				_, err = tx.Exec(ctx, "INSERT INTO grants (user_id, client_id, data) VALUES ($1, $2, $3)", userID, clientID, data)
			} else {
				_, err = tx.Exec(ctx, "UPDATE grants SET data = $3 WHERE user_id = $1 AND client_id = $2", userID, clientID, data)
			}
			return err
		})
		if fnErr != nil {
			return nil, fnErr
		}
		if !errors.Is(err, storage.ErrAlreadyExists) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: update grant %q/%q: %w", userID, clientID, err)
	}
	return next, nil
}

// GetGrant returns the grant of (user, client), or storage.ErrNotFound.
func (s *Store) GetGrant(ctx context.Context, userID, clientID string) (*storage.Grant, error) {
	if !lookable(userID) || !lookable(clientID) {
		return nil, fmt.Errorf("postgres: get grant: %w", storage.ErrNotFound)
	}
	g, err := getJSON[storage.Grant](ctx, s.pool, "SELECT data FROM grants WHERE user_id = $1 AND client_id = $2", userID, clientID)
	if err != nil {
		return nil, fmt.Errorf("postgres: get grant %q/%q: %w", userID, clientID, mapErr(err))
	}
	return g, nil
}

// ListUserGrants returns the user's grants ordered by client id.
func (s *Store) ListUserGrants(ctx context.Context, userID string) ([]*storage.Grant, error) {
	if !lookable(userID) {
		return nil, nil
	}
	out, err := listJSON[storage.Grant](ctx, s.pool, "SELECT data FROM grants WHERE user_id = $1 ORDER BY client_id", userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list grants of %q: %w", userID, mapErr(err))
	}
	return out, nil
}

// DeleteGrant removes the grant of (user, client), or returns storage.ErrNotFound.
func (s *Store) DeleteGrant(ctx context.Context, userID, clientID string) error {
	return s.deleteOne(ctx, "grant", "DELETE FROM grants WHERE user_id = $1 AND client_id = $2", userID, clientID)
}
