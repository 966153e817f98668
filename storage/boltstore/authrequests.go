package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// authRequestExpiry is when the record may go: after both the request and its code
// have expired, so that a replayed code is recognised until the code's own expiry.
func authRequestExpiry(a *storage.AuthRequest) time.Time {
	if a.CodeExpiresAt.After(a.ExpiresAt) {
		return a.CodeExpiresAt
	}
	return a.ExpiresAt
}

// CreateAuthRequest stores the request; it returns storage.ErrAlreadyExists when the
// id (or a code hash already set on it) is taken.
//
// The sign-in path's writes (this, UpdateAuthRequest, IssueCode and
// CreateSession) share the group commit with the token endpoint's: each a
// commit of its own held bbolt's writer through two syncs while every other
// write, token answers included, queued for the lock.
func (s *Store) CreateAuthRequest(ctx context.Context, a *storage.AuthRequest) error {
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		if exists(tx, bucketAuthRequests, a.ID) {
			return refuse(storage.ErrAlreadyExists)
		}
		if len(a.CodeHash) > 0 {
			if err := putCode(tx, a.CodeHash, a.ID); err != nil {
				return err
			}
		}
		if err := setAuthRequest(tx, a.ID, a); err != nil {
			return err
		}
		return putExpiry(tx, authRequestExpiry(a), kindAuthRequest, a.ID)
	})
	if err != nil {
		return fmt.Errorf("boltstore: create auth request %q: %w", a.ID, err)
	}
	return nil
}

// putCode indexes a code hash; a hash already indexed is storage.ErrAlreadyExists.
func putCode(tx *bolt.Tx, codeHash []byte, id string) error {
	if err := checkKey(string(codeHash)); err != nil {
		return fmt.Errorf("code hash: %w", err)
	}
	b := tx.Bucket(bucketCodes)
	if b.Get(codeHash) != nil {
		return fmt.Errorf("code hash: %w", storage.ErrAlreadyExists)
	}
	return b.Put(bytes.Clone(codeHash), []byte(id))
}

func getAuthRequest(tx *bolt.Tx, id string) (*storage.AuthRequest, error) {
	a, err := getRecord(tx, bucketAuthRequests, id, decodeAuthRequest)
	if err == nil && a == nil {
		err = storage.ErrNotFound
	}
	return a, err
}

// GetAuthRequest returns the request, expired or not, or storage.ErrNotFound.
func (s *Store) GetAuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error) {
	var a *storage.AuthRequest
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		a, err = getAuthRequest(tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get auth request %q: %w", id, err)
	}
	return a, nil
}

// UpdateAuthRequest loads the request, calls fn and stores the result in one
// transaction. An error from fn is returned as it is and changes nothing; so does an
// fn that changes ID, CodeHash, CodeUsed or the Issued* fields (an error then).
func (s *Store) UpdateAuthRequest(ctx context.Context, id string, fn func(*storage.AuthRequest) error) (*storage.AuthRequest, error) {
	var a *storage.AuthRequest
	var fnErr error
	// fn sees a fresh record on every run (a shared commit may run it again).
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		var err error
		fnErr = nil
		if a, err = getAuthRequest(tx, id); err != nil {
			return refuse(err)
		}
		before := *a
		before.CodeHash = bytes.Clone(a.CodeHash)
		if fnErr = fn(a); fnErr != nil {
			return refuse(fnErr)
		}
		if a.ID != before.ID || !bytes.Equal(a.CodeHash, before.CodeHash) || a.CodeUsed != before.CodeUsed ||
			a.IssuedAccessTokenID != before.IssuedAccessTokenID || a.IssuedRefreshFamilyID != before.IssuedRefreshFamilyID ||
			!a.IssuedAccessTokenExpiresAt.Equal(before.IssuedAccessTokenExpiresAt) {
			return fmt.Errorf("id, code or issued tokens: %w", errImmutableChanged)
		}
		if err := moveExpiry(tx, authRequestExpiry(&before), authRequestExpiry(a), kindAuthRequest, id); err != nil {
			return err
		}
		return setAuthRequest(tx, id, a)
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: update auth request %q: %w", id, err)
	}
	return a, nil
}

// DeleteAuthRequest removes the request and its code, or returns storage.ErrNotFound.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		found, err := deleteAuthRequest(tx, id)
		if err == nil && !found {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("boltstore: delete auth request %q: %w", id, err)
	}
	return nil
}

// deleteAuthRequest removes the request and its index entries; it reports whether
// the request existed.
func deleteAuthRequest(tx *bolt.Tx, id string) (bool, error) {
	a, err := getRecord(tx, bucketAuthRequests, id, decodeAuthRequest)
	if err != nil || a == nil {
		return false, err
	}
	if len(a.CodeHash) > 0 {
		codes := tx.Bucket(bucketCodes)
		if string(codes.Get(a.CodeHash)) == id {
			if err := codes.Delete(a.CodeHash); err != nil {
				return false, err
			}
		}
	}
	if err := deleteExpiry(tx, authRequestExpiry(a), kindAuthRequest, id); err != nil {
		return false, err
	}
	return true, tx.Bucket(bucketAuthRequests).Delete([]byte(id))
}

// IssueCode attaches a code hash to a Done request, once: it returns
// storage.ErrConflict when the request is not Done or already has a code, and
// storage.ErrAlreadyExists when another request has the same code hash.
func (s *Store) IssueCode(ctx context.Context, id string, codeHash []byte, expiresAt time.Time) error {
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		a, err := getAuthRequest(tx, id)
		if err != nil {
			return refuse(err)
		}
		if !a.Done {
			return refuse(fmt.Errorf("request not done: %w", storage.ErrConflict))
		}
		if len(a.CodeHash) > 0 {
			return refuse(fmt.Errorf("code already issued: %w", storage.ErrConflict))
		}
		if err := putCode(tx, codeHash, id); err != nil {
			return err
		}
		oldExpiry := authRequestExpiry(a)
		a.CodeHash = bytes.Clone(codeHash)
		a.CodeExpiresAt = expiresAt
		if err := moveExpiry(tx, oldExpiry, authRequestExpiry(a), kindAuthRequest, id); err != nil {
			return err
		}
		return setAuthRequest(tx, id, a)
	})
	if err != nil {
		return fmt.Errorf("boltstore: issue code for auth request %q: %w", id, err)
	}
	return nil
}

// GetAuthRequestByCode returns the request that has the code hash, used or not, or
// storage.ErrNotFound.
func (s *Store) GetAuthRequestByCode(ctx context.Context, codeHash []byte) (*storage.AuthRequest, error) {
	var a *storage.AuthRequest
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		a, err = getAuthRequestByCode(tx, codeHash)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get auth request by code: %w", err)
	}
	return a, nil
}

func getAuthRequestByCode(tx *bolt.Tx, codeHash []byte) (*storage.AuthRequest, error) {
	if len(codeHash) == 0 {
		return nil, storage.ErrNotFound
	}
	id := tx.Bucket(bucketCodes).Get(codeHash)
	if id == nil {
		return nil, storage.ErrNotFound
	}
	return getAuthRequest(tx, string(id))
}
