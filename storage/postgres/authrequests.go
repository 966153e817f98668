package postgres

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-idp/signet/storage"
)

// authRequestExpiry is when the record may go: after both the request and its
// code have expired, so that a replayed code is recognised until the code's own
// expiry.
func authRequestExpiry(a *storage.AuthRequest) time.Time {
	return ts(later(a.ExpiresAt, a.CodeExpiresAt))
}

// codeColumn is the code_hash column's value: NULL until a code is issued.
func codeColumn(h []byte) ([]byte, error) {
	switch {
	case len(h) == 0:
		return nil, nil
	case len(h) > maxKeyLen:
		return nil, fmt.Errorf("code hash of %d bytes is too long", len(h))
	}
	return h, nil
}

// CreateAuthRequest stores the request; it returns storage.ErrAlreadyExists when
// the id (or a code hash already set on it) is taken.
func (s *Store) CreateAuthRequest(ctx context.Context, a *storage.AuthRequest) error {
	if err := checkKey(a.ID); err != nil {
		return fmt.Errorf("postgres: create auth request: %w", err)
	}
	code, err := codeColumn(a.CodeHash)
	if err != nil {
		return fmt.Errorf("postgres: create auth request %q: %w", a.ID, err)
	}
	data, err := encode(a)
	if err == nil {
		_, err = s.pool.Exec(ctx, "INSERT INTO auth_requests (id, code_hash, expires_at, data) VALUES ($1, $2, $3, $4)",
			a.ID, code, authRequestExpiry(a), data)
	}
	if err != nil {
		return fmt.Errorf("postgres: create auth request %q: %w", a.ID, mapErr(err))
	}
	return nil
}

// GetAuthRequest returns the request, expired or not, or storage.ErrNotFound.
func (s *Store) GetAuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error) {
	if !lookable(id) {
		return nil, fmt.Errorf("postgres: get auth request: %w", storage.ErrNotFound)
	}
	a, err := getJSON[storage.AuthRequest](ctx, s.pool, "SELECT data FROM auth_requests WHERE id = $1", id)
	if err != nil {
		return nil, fmt.Errorf("postgres: get auth request %q: %w", id, mapErr(err))
	}
	return a, nil
}

// UpdateAuthRequest loads the request under a row lock, calls fn and stores the
// result in one transaction. An error from fn is returned as it is and changes
// nothing; so does an fn that changes ID, CodeHash, CodeUsed or the Issued*
// fields (an error then): those change only through IssueCode and RedeemCode,
// which take the same lock.
func (s *Store) UpdateAuthRequest(ctx context.Context, id string, fn func(*storage.AuthRequest) error) (*storage.AuthRequest, error) {
	if !lookable(id) {
		return nil, fmt.Errorf("postgres: update auth request: %w", storage.ErrNotFound)
	}
	var a *storage.AuthRequest
	var fnErr error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		fnErr = nil
		if a, err = getJSON[storage.AuthRequest](ctx, tx, "SELECT data FROM auth_requests WHERE id = $1 FOR NO KEY UPDATE", id); err != nil {
			return err
		}
		before := *a
		before.CodeHash = bytes.Clone(a.CodeHash)
		if fnErr = fn(a); fnErr != nil {
			return fnErr
		}
		if a.ID != before.ID || !bytes.Equal(a.CodeHash, before.CodeHash) || a.CodeUsed != before.CodeUsed ||
			a.IssuedAccessTokenID != before.IssuedAccessTokenID || a.IssuedRefreshFamilyID != before.IssuedRefreshFamilyID ||
			!a.IssuedAccessTokenExpiresAt.Equal(before.IssuedAccessTokenExpiresAt) {
			return fmt.Errorf("id, code or issued tokens: %w", errImmutableChanged)
		}
		return putAuthRequest(ctx, tx, a)
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: update auth request %q: %w", id, err)
	}
	return a, nil
}

// putAuthRequest rewrites an existing request's row.
func putAuthRequest(ctx context.Context, tx pgx.Tx, a *storage.AuthRequest) error {
	code, err := codeColumn(a.CodeHash)
	if err != nil {
		return err
	}
	data, err := encode(a)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "UPDATE auth_requests SET code_hash = $2, expires_at = $3, data = $4 WHERE id = $1",
		a.ID, code, authRequestExpiry(a), data)
	return err
}

// DeleteAuthRequest removes the request and its code, or returns
// storage.ErrNotFound.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.deleteOne(ctx, "auth request", "DELETE FROM auth_requests WHERE id = $1", id)
}

// IssueCode attaches a code hash to a Done request, once, under the request's
// row lock: it returns storage.ErrConflict when the request is not Done or
// already has a code, and storage.ErrAlreadyExists when another request has the
// same code hash.
func (s *Store) IssueCode(ctx context.Context, id string, codeHash []byte, expiresAt time.Time) error {
	if !lookable(id) {
		return fmt.Errorf("postgres: issue code: %w", storage.ErrNotFound)
	}
	if len(codeHash) == 0 {
		return fmt.Errorf("postgres: issue code for auth request %q: %w", id, errEmptyKey)
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		a, err := getJSON[storage.AuthRequest](ctx, tx, "SELECT data FROM auth_requests WHERE id = $1 FOR NO KEY UPDATE", id)
		if err != nil {
			return err
		}
		if !a.Done {
			return fmt.Errorf("request not done: %w", storage.ErrConflict)
		}
		if len(a.CodeHash) > 0 {
			return fmt.Errorf("code already issued: %w", storage.ErrConflict)
		}
		a.CodeHash = bytes.Clone(codeHash)
		a.CodeExpiresAt = expiresAt
		return putAuthRequest(ctx, tx, a)
	})
	if err != nil {
		return fmt.Errorf("postgres: issue code for auth request %q: %w", id, err)
	}
	return nil
}

// GetAuthRequestByCode returns the request that has the code hash, used or not,
// or storage.ErrNotFound.
func (s *Store) GetAuthRequestByCode(ctx context.Context, codeHash []byte) (*storage.AuthRequest, error) {
	if len(codeHash) == 0 || len(codeHash) > maxKeyLen {
		return nil, fmt.Errorf("postgres: get auth request by code: %w", storage.ErrNotFound)
	}
	a, err := getJSON[storage.AuthRequest](ctx, s.pool, "SELECT data FROM auth_requests WHERE code_hash = $1", codeHash)
	if err != nil {
		return nil, fmt.Errorf("postgres: get auth request by code: %w", mapErr(err))
	}
	return a, nil
}
