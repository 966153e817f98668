package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/signet-idp/signet/storage"
)

// GetThrottle returns the counter under key, or the zero Throttle.
func (s *Store) GetThrottle(ctx context.Context, key string) (storage.Throttle, error) {
	if !lookable(key) {
		return storage.Throttle{}, nil
	}
	t, err := getJSON[storage.Throttle](ctx, s.pool, "SELECT data FROM throttles WHERE key = $1", key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.Throttle{}, nil
	case err != nil:
		return storage.Throttle{}, fmt.Errorf("postgres: get throttle: %w", mapErr(err))
	}
	return *t, nil
}

// UpdateThrottle changes key's counter under a row lock, so that failures
// counted at once by several replicas all count; a counter left with nothing
// counted is deleted.
func (s *Store) UpdateThrottle(ctx context.Context, key string, fn func(*storage.Throttle)) (storage.Throttle, error) {
	if err := checkKey(key); err != nil {
		return storage.Throttle{}, fmt.Errorf("postgres: update throttle: %w", err)
	}
	var out storage.Throttle
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// The row exists before it is locked, so that two first failures
		// at once do not both start from zero.
		if _, err := tx.Exec(ctx, `INSERT INTO throttles (key, expires_at, data) VALUES ($1, $2, '{}')
			ON CONFLICT (key) DO NOTHING`, key, ts(maxTime)); err != nil {
			return err
		}
		cur, err := getJSON[storage.Throttle](ctx, tx, "SELECT data FROM throttles WHERE key = $1 FOR UPDATE", key)
		if err != nil {
			return err
		}
		t := *cur
		fn(&t)
		out = t
		if t.Zero() {
			_, err = tx.Exec(ctx, "DELETE FROM throttles WHERE key = $1", key)
			return err
		}
		data, err := encode(&t)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE throttles SET expires_at = $2, data = $3 WHERE key = $1", key, ts(t.ExpiresAt), data)
		return err
	})
	if err != nil {
		return storage.Throttle{}, fmt.Errorf("postgres: update throttle: %w", mapErr(err))
	}
	return out, nil
}
