package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-idp/signet/storage"
)

// CreateSession stores the session; it returns storage.ErrAlreadyExists when the
// id is taken.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	if err := checkKey(sess.ID); err != nil {
		return fmt.Errorf("postgres: create session: %w", err)
	}
	if len(sess.UserID) > maxKeyLen {
		return fmt.Errorf("postgres: create session %q: user id: %w", sess.ID, checkKey(sess.UserID))
	}
	data, err := encode(sess)
	if err == nil {
		_, err = s.pool.Exec(ctx, `INSERT INTO sessions (id, user_id, last_seen, expires_at, data)
			VALUES ($1, $2, $3, $4, $5)`, sess.ID, sess.UserID, ts(sess.LastSeen), ts(sess.ExpiresAt), data)
	}
	if err != nil {
		return fmt.Errorf("postgres: create session %q: %w", sess.ID, mapErr(err))
	}
	return nil
}

// GetSession returns the session, expired or not, or storage.ErrNotFound.
func (s *Store) GetSession(ctx context.Context, id string) (*storage.Session, error) {
	if !lookable(id) {
		return nil, fmt.Errorf("postgres: get session: %w", storage.ErrNotFound)
	}
	sess, err := getJSON[storage.Session](ctx, s.pool, "SELECT data FROM sessions WHERE id = $1", id)
	if err != nil {
		return nil, fmt.Errorf("postgres: get session %q: %w", id, mapErr(err))
	}
	return sess, nil
}

// UpdateSession loads the session under a row lock, calls fn and stores the
// result in one transaction. An error from fn is returned as it is and changes
// nothing; fn must not change ID.
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(*storage.Session) error) (*storage.Session, error) {
	if !lookable(id) {
		return nil, fmt.Errorf("postgres: update session: %w", storage.ErrNotFound)
	}
	var sess *storage.Session
	var fnErr error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		fnErr = nil
		if sess, err = getJSON[storage.Session](ctx, tx, "SELECT data FROM sessions WHERE id = $1 FOR NO KEY UPDATE", id); err != nil {
			return err
		}
		if fnErr = fn(sess); fnErr != nil {
			return fnErr
		}
		if sess.ID != id {
			return fmt.Errorf("id: %w", errImmutableChanged)
		}
		if len(sess.UserID) > maxKeyLen {
			return fmt.Errorf("user id: %w", checkKey(sess.UserID))
		}
		data, err := encode(sess)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE sessions SET user_id = $2, last_seen = $3, expires_at = $4, data = $5 WHERE id = $1",
			id, sess.UserID, ts(sess.LastSeen), ts(sess.ExpiresAt), data)
		return err
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: update session %q: %w", id, err)
	}
	return sess, nil
}

// DeleteSession removes the session, or returns storage.ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.deleteOne(ctx, "session", "DELETE FROM sessions WHERE id = $1", id)
}

// ListUserSessions returns the user's sessions, expired ones included, ordered
// by id.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]*storage.Session, error) {
	if !lookable(userID) {
		return nil, nil
	}
	out, err := listJSON[storage.Session](ctx, s.pool, "SELECT data FROM sessions WHERE user_id = $1 ORDER BY id", userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions of user %q: %w", userID, mapErr(err))
	}
	return out, nil
}

// ListIdleSessions returns at most limit sessions last seen before
// lastSeenBefore, ordered by id.
func (s *Store) ListIdleSessions(ctx context.Context, lastSeenBefore time.Time, limit int) ([]*storage.Session, error) {
	if limit <= 0 {
		return nil, nil
	}
	out, err := listJSON[storage.Session](ctx, s.pool,
		"SELECT data FROM sessions WHERE last_seen < $1 ORDER BY id LIMIT $2", ts(lastSeenBefore), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list idle sessions: %w", mapErr(err))
	}
	return out, nil
}
