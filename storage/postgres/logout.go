package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-idp/signet/storage"
)

// AddSessionClient records that clientID received tokens in session sid, until
// expiresAt (a later call moves it).
func (s *Store) AddSessionClient(ctx context.Context, sid, clientID string, expiresAt time.Time) error {
	if err := addSessionClient(ctx, s.pool, sid, clientID, expiresAt); err != nil {
		return fmt.Errorf("postgres: add session client: %w", mapErr(err))
	}
	return nil
}

func addSessionClient(ctx context.Context, q querier, sid, clientID string, expiresAt time.Time) error {
	if err := checkKey(sid); err != nil {
		return fmt.Errorf("sid: %w", err)
	}
	if err := checkKey(clientID); err != nil {
		return fmt.Errorf("client id: %w", err)
	}
	_, err := q.Exec(ctx, `INSERT INTO session_clients (sid, client_id, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (sid, client_id) DO UPDATE SET expires_at = excluded.expires_at`, sid, clientID, ts(expiresAt))
	return err
}

// ListSessionClients returns the clients recorded for sid, ordered by id.
func (s *Store) ListSessionClients(ctx context.Context, sid string) ([]string, error) {
	if !lookable(sid) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, "SELECT client_id FROM session_clients WHERE sid = $1 ORDER BY client_id", sid)
	if err == nil {
		var out []string
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err == nil {
			return out, nil
		}
	}
	return nil, fmt.Errorf("postgres: list session clients: %w", mapErr(err))
}

// EnqueueLogouts stores new deliveries in one transaction.
func (s *Store) EnqueueLogouts(ctx context.Context, ds []*storage.LogoutDelivery) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		for _, d := range ds {
			if err := checkKey(d.ID); err != nil {
				return fmt.Errorf("logout id: %w", err)
			}
			data, err := encode(d)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO logouts (id, next_attempt, expires_at, data) VALUES ($1, $2, $3, $4)",
				d.ID, ts(d.NextAttempt), ts(d.ExpiresAt), data); err != nil {
				return fmt.Errorf("logout %q: %w", d.ID, mapErr(err))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: enqueue logouts: %w", err)
	}
	return nil
}

// DueLogouts returns at most limit deliveries due at now, earliest first.
func (s *Store) DueLogouts(ctx context.Context, now time.Time, limit int) ([]*storage.LogoutDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	out, err := listJSON[storage.LogoutDelivery](ctx, s.pool,
		"SELECT data FROM logouts WHERE next_attempt <= $1 ORDER BY next_attempt, id LIMIT $2", ts(now), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: due logouts: %w", mapErr(err))
	}
	return out, nil
}

// UpdateLogout loads the delivery under a row lock, calls fn and stores it in
// one transaction; fn must not change ID.
func (s *Store) UpdateLogout(ctx context.Context, id string, fn func(*storage.LogoutDelivery) error) error {
	if !lookable(id) {
		return fmt.Errorf("postgres: update logout: %w", storage.ErrNotFound)
	}
	var fnErr error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		fnErr = nil
		d, err := getJSON[storage.LogoutDelivery](ctx, tx, "SELECT data FROM logouts WHERE id = $1 FOR NO KEY UPDATE", id)
		if err != nil {
			return err
		}
		if fnErr = fn(d); fnErr != nil {
			return fnErr
		}
		if d.ID != id {
			return errImmutableChanged
		}
		data, err := encode(d)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE logouts SET next_attempt = $2, expires_at = $3, data = $4 WHERE id = $1",
			id, ts(d.NextAttempt), ts(d.ExpiresAt), data)
		return err
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("postgres: update logout %q: %w", id, err)
	}
	return nil
}

// DeleteLogout removes a delivery, or returns storage.ErrNotFound.
func (s *Store) DeleteLogout(ctx context.Context, id string) error {
	return s.deleteOne(ctx, "logout", "DELETE FROM logouts WHERE id = $1", id)
}
