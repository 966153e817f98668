package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// CreateClient stores c; it returns storage.ErrAlreadyExists when the id is taken.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	defer s.clients.invalidate()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if exists(tx, bucketClients, c.ID) {
			return storage.ErrAlreadyExists
		}
		return put(tx, bucketClients, c.ID, c)
	})
	if err != nil {
		return fmt.Errorf("boltstore: create client %q: %w", c.ID, err)
	}
	return nil
}

// GetClient returns the client, or storage.ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: get client %q: %w", id, err)
	}
	c, gen := s.clients.get(id)
	if c != nil {
		return c, nil
	}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		c, err = get[storage.Client](tx, bucketClients, id)
		if err == nil && c == nil {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get client %q: %w", id, err)
	}
	s.clients.add(gen, c)
	return c, nil
}

// ListClients returns every client ordered by id.
func (s *Store) ListClients(ctx context.Context) ([]*storage.Client, error) {
	var out []*storage.Client
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = listJSON[storage.Client](tx, bucketClients)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list clients: %w", err)
	}
	return out, nil
}

// UpdateClient loads the client, calls fn and stores the result in one
// transaction. An error from fn is returned as it is and changes nothing; so does
// an fn that changes ID (an error then).
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*storage.Client) error) (*storage.Client, error) {
	defer s.clients.invalidate()
	var c *storage.Client
	var fnErr error
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		if c, err = get[storage.Client](tx, bucketClients, id); err != nil {
			return err
		}
		if c == nil {
			return storage.ErrNotFound
		}
		if fnErr = fn(c); fnErr != nil {
			return fnErr
		}
		if c.ID != id {
			return fmt.Errorf("id: %w", errImmutableChanged)
		}
		return put(tx, bucketClients, id, c)
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: update client %q: %w", id, err)
	}
	return c, nil
}

// DeleteClient removes the client, or returns storage.ErrNotFound. It leaves the
// client's tokens to expire.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	defer s.clients.invalidate()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if !exists(tx, bucketClients, id) {
			return storage.ErrNotFound
		}
		return tx.Bucket(bucketClients).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("boltstore: delete client %q: %w", id, err)
	}
	return nil
}
