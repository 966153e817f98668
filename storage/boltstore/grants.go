package boltstore

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// PutGrant creates or replaces the grant of (user, client).
func (s *Store) PutGrant(ctx context.Context, g *storage.Grant) error {
	if err := checkKey(g.UserID); err != nil {
		return fmt.Errorf("boltstore: put grant: %w", err)
	}
	if err := checkKey(g.ClientID); err != nil {
		return fmt.Errorf("boltstore: put grant: %w", err)
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		return put(tx, bucketGrants, string(indexKey(g.UserID, g.ClientID)), g)
	})
	if err != nil {
		return fmt.Errorf("boltstore: put grant: %w", err)
	}
	return nil
}

// UpdateGrant implements storage.Grants.
func (s *Store) UpdateGrant(ctx context.Context, userID, clientID string, fn func(*storage.Grant) (*storage.Grant, error)) (*storage.Grant, error) {
	if err := checkKey(userID); err != nil {
		return nil, fmt.Errorf("boltstore: update grant: %w", err)
	}
	if err := checkKey(clientID); err != nil {
		return nil, fmt.Errorf("boltstore: update grant: %w", err)
	}
	key := string(indexKey(userID, clientID))
	var next *storage.Grant
	err := s.update(ctx, func(tx *bolt.Tx) error {
		cur, err := grantMemo.get(tx, bucketGrants, key)
		if err != nil {
			return err
		}
		if next, err = fn(cur); err != nil {
			return err
		}
		if next == nil || next.UserID != userID || next.ClientID != clientID {
			return fmt.Errorf("grant for %q/%q: fn returned another grant", userID, clientID)
		}
		return put(tx, bucketGrants, key, next)
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: update grant: %w", err)
	}
	return next, nil
}

// GetGrant returns the grant of (user, client).
func (s *Store) GetGrant(ctx context.Context, userID, clientID string) (*storage.Grant, error) {
	var g *storage.Grant
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		g, err = grantMemo.get(tx, bucketGrants, string(indexKey(userID, clientID)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get grant: %w", err)
	}
	if g == nil {
		return nil, fmt.Errorf("boltstore: get grant %q/%q: %w", userID, clientID, storage.ErrNotFound)
	}
	return g, nil
}

// ListUserGrants returns the user's grants ordered by client id.
func (s *Store) ListUserGrants(ctx context.Context, userID string) ([]*storage.Grant, error) {
	var out []*storage.Grant
	prefix := prefixKey(userID)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketGrants).Cursor()
		for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
			g := new(storage.Grant)
			if err := json.Unmarshal(v, g); err != nil {
				return fmt.Errorf("decode grant %q: %w", k, err)
			}
			out = append(out, g)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list grants: %w", err)
	}
	return out, nil
}

// DeleteGrant removes the grant of (user, client).
func (s *Store) DeleteGrant(ctx context.Context, userID, clientID string) error {
	key := indexKey(userID, clientID)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketGrants)
		if b.Get(key) == nil {
			return storage.ErrNotFound
		}
		return b.Delete(key)
	})
	if err != nil {
		return fmt.Errorf("boltstore: delete grant %q/%q: %w", userID, clientID, err)
	}
	return nil
}
