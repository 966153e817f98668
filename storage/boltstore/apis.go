package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// CreateAPI stores a; it returns storage.ErrAlreadyExists when the audience is
// taken.
func (s *Store) CreateAPI(ctx context.Context, a *storage.API) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if exists(tx, bucketAPIs, a.Audience) {
			return storage.ErrAlreadyExists
		}
		return put(tx, bucketAPIs, a.Audience, a)
	})
	if err != nil {
		return fmt.Errorf("boltstore: create api %q: %w", a.Audience, err)
	}
	return nil
}

// GetAPI returns the API, or storage.ErrNotFound.
func (s *Store) GetAPI(ctx context.Context, audience string) (*storage.API, error) {
	var a *storage.API
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if audience == "" || len(audience) > maxKeyLen {
			return storage.ErrNotFound
		}
		var err error
		if a, err = get[storage.API](tx, bucketAPIs, audience); err == nil && a == nil {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get api %q: %w", audience, err)
	}
	return a, nil
}

// ListAPIs returns every API ordered by audience.
func (s *Store) ListAPIs(ctx context.Context) ([]*storage.API, error) {
	var out []*storage.API
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = listJSON[storage.API](tx, bucketAPIs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list apis: %w", err)
	}
	return out, nil
}

// DeleteAPI removes the API, or returns storage.ErrNotFound.
func (s *Store) DeleteAPI(ctx context.Context, audience string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if !exists(tx, bucketAPIs, audience) {
			return storage.ErrNotFound
		}
		return tx.Bucket(bucketAPIs).Delete([]byte(audience))
	})
	if err != nil {
		return fmt.Errorf("boltstore: delete api %q: %w", audience, err)
	}
	return nil
}
