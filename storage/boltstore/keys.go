package boltstore

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// ListKeys returns every signing key ordered by id.
func (s *Store) ListKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	var out []*storage.SigningKey
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = listJSON[storage.SigningKey](tx, bucketKeys)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list keys: %w", err)
	}
	return out, nil
}

// UpdateKeys calls fn with the current keys (ordered by id) inside a write
// transaction and replaces the set with what fn returns: keys not returned are
// deleted. When fn returns an error nothing changes and UpdateKeys returns that error
// as it is. A result with an empty or repeated id is refused and changes nothing.
func (s *Store) UpdateKeys(ctx context.Context, fn func([]*storage.SigningKey) ([]*storage.SigningKey, error)) error {
	var fnErr error
	err := s.update(ctx, func(tx *bolt.Tx) error {
		current, err := listJSON[storage.SigningKey](tx, bucketKeys)
		if err != nil {
			return err
		}
		next, err := fn(current)
		if err != nil {
			fnErr = err
			return err
		}
		seen := make(map[string]bool, len(next))
		for _, k := range next {
			if k == nil {
				return errors.New("nil key in the new set")
			}
			if seen[k.ID] {
				return fmt.Errorf("key %q twice in the new set: %w", k.ID, storage.ErrAlreadyExists)
			}
			seen[k.ID] = true
		}
		b := tx.Bucket(bucketKeys)
		for _, k := range current {
			if !seen[k.ID] {
				if err := b.Delete([]byte(k.ID)); err != nil {
					return err
				}
			}
		}
		for _, k := range next {
			if err := put(tx, bucketKeys, k.ID, k); err != nil {
				return fmt.Errorf("key %q: %w", k.ID, err)
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("boltstore: update keys: %w", err)
	}
	return nil
}
