package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/signet-idp/signet/storage"
)

// ListKeys returns every signing key ordered by id.
func (s *Store) ListKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	out, err := listJSON[storage.SigningKey](ctx, s.pool, "SELECT data FROM signing_keys ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", mapErr(err))
	}
	return out, nil
}

// UpdateKeys calls fn with the current keys (ordered by id) and replaces the set
// with what fn returns, in one transaction that holds a lock on the table which
// only another UpdateKeys waits for (readers do not): of replicas deciding a
// rotation at once, the second sees the first one's result, so a period rotates
// once. When fn returns an error nothing changes and UpdateKeys returns it as it
// is. A result with an empty or repeated id is refused and changes nothing.
func (s *Store) UpdateKeys(ctx context.Context, fn func([]*storage.SigningKey) ([]*storage.SigningKey, error)) error {
	var fnErr error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		fnErr = nil
		if _, err := tx.Exec(ctx, "LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		current, err := listJSON[storage.SigningKey](ctx, tx, "SELECT data FROM signing_keys ORDER BY id")
		if err != nil {
			return err
		}
		next, err := fn(current)
		if err != nil {
			fnErr = err
			return err
		}
		seen := make(map[string]bool, len(next))
		ids := make([]string, 0, len(next))
		for _, k := range next {
			if k == nil {
				return errors.New("nil key in the new set")
			}
			if err := checkKey(k.ID); err != nil {
				return fmt.Errorf("key id: %w", err)
			}
			if seen[k.ID] {
				return fmt.Errorf("key %q twice in the new set: %w", k.ID, storage.ErrAlreadyExists)
			}
			seen[k.ID] = true
			ids = append(ids, k.ID)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM signing_keys WHERE NOT (id = ANY($1))", ids); err != nil {
			return err
		}
		for _, k := range next {
			data, err := encode(k)
			if err != nil {
				return fmt.Errorf("key %q: %w", k.ID, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (id, data) VALUES ($1, $2)
				ON CONFLICT (id) DO UPDATE SET data = excluded.data`, k.ID, data); err != nil {
				return fmt.Errorf("key %q: %w", k.ID, err)
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("postgres: update keys: %w", err)
	}
	return nil
}
