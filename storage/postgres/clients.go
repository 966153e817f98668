package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/signet-idp/signet/storage"
)

// CreateClient stores c; it returns storage.ErrAlreadyExists when the id is taken.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	if err := checkKey(c.ID); err != nil {
		return fmt.Errorf("postgres: create client: %w", err)
	}
	data, err := encode(c)
	if err == nil {
		_, err = s.pool.Exec(ctx, "INSERT INTO clients (id, data) VALUES ($1, $2)", c.ID, data)
	}
	if err != nil {
		return fmt.Errorf("postgres: create client %q: %w", c.ID, mapErr(err))
	}
	return nil
}

// GetClient returns the client, or storage.ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if !lookable(id) {
		return nil, fmt.Errorf("postgres: get client: %w", storage.ErrNotFound)
	}
	c, err := getJSON[storage.Client](ctx, s.pool, "SELECT data FROM clients WHERE id = $1", id)
	if err != nil {
		return nil, fmt.Errorf("postgres: get client %q: %w", id, mapErr(err))
	}
	return c, nil
}

// ListClients returns every client ordered by id.
func (s *Store) ListClients(ctx context.Context) ([]*storage.Client, error) {
	out, err := listJSON[storage.Client](ctx, s.pool, "SELECT data FROM clients ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("postgres: list clients: %w", mapErr(err))
	}
	return out, nil
}

// UpdateClient loads the client under a row lock, calls fn and stores the
// result in one transaction. An error from fn is returned as it is and changes
// nothing; so does an fn that changes ID (an error then).
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*storage.Client) error) (*storage.Client, error) {
	if !lookable(id) {
		return nil, fmt.Errorf("postgres: update client: %w", storage.ErrNotFound)
	}
	var c *storage.Client
	var fnErr error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		fnErr = nil
		if c, err = getJSON[storage.Client](ctx, tx, "SELECT data FROM clients WHERE id = $1 FOR NO KEY UPDATE", id); err != nil {
			return err
		}
		if fnErr = fn(c); fnErr != nil {
			return fnErr
		}
		if c.ID != id {
			return fmt.Errorf("id: %w", errImmutableChanged)
		}
		data, err := encode(c)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE clients SET data = $2 WHERE id = $1", id, data)
		return err
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: update client %q: %w", id, err)
	}
	return c, nil
}

// DeleteClient removes the client, or returns storage.ErrNotFound. It leaves the
// client's tokens to expire.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.deleteOne(ctx, "client", "DELETE FROM clients WHERE id = $1", id)
}

// deleteOne runs a DELETE of one keyed row: none deleted is storage.ErrNotFound.
func (s *Store) deleteOne(ctx context.Context, what, sql string, keys ...string) error {
	args := make([]any, len(keys))
	for i, k := range keys {
		if !lookable(k) {
			return fmt.Errorf("postgres: delete %s: %w", what, storage.ErrNotFound)
		}
		args[i] = k
	}
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("postgres: delete %s %q: %w", what, keys, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete %s %q: %w", what, keys, storage.ErrNotFound)
	}
	return nil
}
