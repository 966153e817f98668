package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// CreateUser stores u; it returns storage.ErrAlreadyExists when the id or the
// username is taken. Usernames are compared byte for byte: folding case is the
// caller's decision.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if err := checkKey(u.Username); err != nil {
			return fmt.Errorf("username: %w", err)
		}
		if exists(tx, bucketUsers, u.ID) {
			return storage.ErrAlreadyExists
		}
		if exists(tx, bucketUsernames, u.Username) {
			return fmt.Errorf("username %q: %w", u.Username, storage.ErrAlreadyExists)
		}
		if err := put(tx, bucketUsers, u.ID, u); err != nil {
			return err
		}
		return tx.Bucket(bucketUsernames).Put([]byte(u.Username), []byte(u.ID))
	})
	if err != nil {
		return fmt.Errorf("boltstore: create user %q: %w", u.ID, err)
	}
	return nil
}

// GetUser returns the user, or storage.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (*storage.User, error) {
	var u *storage.User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		u, err = getUser(tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get user %q: %w", id, err)
	}
	return u, nil
}

func getUser(tx *bolt.Tx, id string) (*storage.User, error) {
	u, err := get[storage.User](tx, bucketUsers, id)
	if err == nil && u == nil {
		err = storage.ErrNotFound
	}
	return u, err
}

// GetUserByUsername returns the user with that username, or storage.ErrNotFound.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	var u *storage.User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketUsernames).Get([]byte(username))
		if username == "" || id == nil {
			return storage.ErrNotFound
		}
		var err error
		u, err = getUser(tx, string(id))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get user by username %q: %w", username, err)
	}
	return u, nil
}

// ListUsers returns every user ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]*storage.User, error) {
	var out []*storage.User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsernames).ForEach(func(_, id []byte) error {
			u, err := getUser(tx, string(id))
			if err != nil {
				return fmt.Errorf("user %q: %w", id, err)
			}
			out = append(out, u)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list users: %w", err)
	}
	return out, nil
}

// UpdateUser loads the user, calls fn and stores the result in one transaction. An
// error from fn is returned as it is and changes nothing; so does an fn that changes
// ID or Username (an error then).
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*storage.User) error) (*storage.User, error) {
	var u *storage.User
	var fnErr error
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		if u, err = getUser(tx, id); err != nil {
			return err
		}
		username := u.Username
		if fnErr = fn(u); fnErr != nil {
			return fnErr
		}
		if u.ID != id || u.Username != username {
			return fmt.Errorf("id or username: %w", errImmutableChanged)
		}
		return put(tx, bucketUsers, id, u)
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: update user %q: %w", id, err)
	}
	return u, nil
}
