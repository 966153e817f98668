package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// CreateUser stores u; it returns storage.ErrAlreadyExists when the id, the
// username or the email is taken. Usernames are compared byte for byte (folding
// case is the caller's decision); emails with storage.FoldEmail.
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
		if err := putEmail(tx, u.Email, u.ID); err != nil {
			return err
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
	u, err := userMemo.get(tx, bucketUsers, id)
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
		username, email := u.Username, u.Email
		if fnErr = fn(u); fnErr != nil {
			return fnErr
		}
		if u.ID != id || u.Username != username {
			return fmt.Errorf("id or username: %w", errImmutableChanged)
		}
		if storage.FoldEmail(email) != storage.FoldEmail(u.Email) {
			if err := putEmail(tx, u.Email, id); err != nil {
				return err
			}
			if err := deleteEmail(tx, email, id); err != nil {
				return err
			}
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

// GetUserByEmail returns the user whose email folds to the same as email, or
// storage.ErrNotFound.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*storage.User, error) {
	var u *storage.User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		key := storage.FoldEmail(email)
		if key == "" || len(key) > maxKeyLen {
			return storage.ErrNotFound
		}
		id := tx.Bucket(bucketEmails).Get([]byte(key))
		if id == nil {
			return storage.ErrNotFound
		}
		var err error
		u, err = getUser(tx, string(id))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get user by email: %w", err)
	}
	return u, nil
}

// DeleteUser removes the user and its username and email index entries, or
// returns storage.ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		u, err := getUser(tx, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketUsernames).Delete([]byte(u.Username)); err != nil {
			return err
		}
		if err := deleteEmail(tx, u.Email, id); err != nil {
			return err
		}
		return tx.Bucket(bucketUsers).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("boltstore: delete user %q: %w", id, err)
	}
	return nil
}

// putEmail indexes a non-empty email for user id; an email another user has is
// storage.ErrAlreadyExists.
func putEmail(tx *bolt.Tx, email, id string) error {
	key := storage.FoldEmail(email)
	if key == "" {
		return nil
	}
	if err := checkKey(key); err != nil {
		return fmt.Errorf("email: %w", err)
	}
	b := tx.Bucket(bucketEmails)
	if cur := b.Get([]byte(key)); cur != nil && string(cur) != id {
		return fmt.Errorf("email: %w", storage.ErrAlreadyExists)
	}
	return b.Put([]byte(key), []byte(id))
}

// deleteEmail removes the index entry of email if it points at user id.
func deleteEmail(tx *bolt.Tx, email, id string) error {
	key := storage.FoldEmail(email)
	if key == "" || len(key) > maxKeyLen {
		return nil
	}
	b := tx.Bucket(bucketEmails)
	if cur := b.Get([]byte(key)); cur != nil && string(cur) == id {
		return b.Delete([]byte(key))
	}
	return nil
}

// buildEmailIndex indexes every user's email, for a database written before the
// index existed. Of two people whose emails fold alike, the first in id order
// keeps the entry (the other is found by username).
func buildEmailIndex(tx *bolt.Tx) error {
	users, err := listJSON[storage.User](tx, bucketUsers)
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketEmails)
	for _, u := range users {
		key := storage.FoldEmail(u.Email)
		if key == "" || len(key) > maxKeyLen || b.Get([]byte(key)) != nil {
			continue
		}
		if err := b.Put([]byte(key), []byte(u.ID)); err != nil {
			return err
		}
	}
	return nil
}

// CreateGroup stores g; it returns storage.ErrAlreadyExists when the name is taken.
func (s *Store) CreateGroup(ctx context.Context, g *storage.Group) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if exists(tx, bucketGroups, g.Name) {
			return storage.ErrAlreadyExists
		}
		return put(tx, bucketGroups, g.Name, g)
	})
	if err != nil {
		return fmt.Errorf("boltstore: create group %q: %w", g.Name, err)
	}
	return nil
}

// GetGroup returns the group, or storage.ErrNotFound.
func (s *Store) GetGroup(ctx context.Context, name string) (*storage.Group, error) {
	var g *storage.Group
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if name == "" || len(name) > maxKeyLen {
			return storage.ErrNotFound
		}
		var err error
		if g, err = get[storage.Group](tx, bucketGroups, name); err == nil && g == nil {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get group %q: %w", name, err)
	}
	return g, nil
}

// ListGroups returns every group ordered by name.
func (s *Store) ListGroups(ctx context.Context) ([]*storage.Group, error) {
	var out []*storage.Group
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = listJSON[storage.Group](tx, bucketGroups)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list groups: %w", err)
	}
	return out, nil
}

// DeleteGroup removes the group, or returns storage.ErrNotFound.
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if !exists(tx, bucketGroups, name) {
			return storage.ErrNotFound
		}
		return tx.Bucket(bucketGroups).Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("boltstore: delete group %q: %w", name, err)
	}
	return nil
}
