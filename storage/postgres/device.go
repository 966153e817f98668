package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/signet-idp/signet/storage"
)

// CreateDeviceAuthorization stores d; it returns storage.ErrAlreadyExists when
// either hash is taken.
func (s *Store) CreateDeviceAuthorization(ctx context.Context, d *storage.DeviceAuthorization) error {
	if err := checkKey(d.DeviceCodeHash); err != nil {
		return fmt.Errorf("postgres: create device authorization: %w", err)
	}
	if err := checkKey(d.UserCodeHash); err != nil {
		return fmt.Errorf("postgres: create device authorization: user code hash: %w", err)
	}
	data, err := encode(d)
	if err == nil {
		_, err = s.pool.Exec(ctx, "INSERT INTO device_authorizations (device_code_hash, user_code_hash, expires_at, data) VALUES ($1, $2, $3, $4)",
			d.DeviceCodeHash, d.UserCodeHash, ts(d.ExpiresAt), data)
	}
	if err != nil {
		return fmt.Errorf("postgres: create device authorization: %w", mapErr(err))
	}
	return nil
}

// GetDeviceAuthorization returns the request, or storage.ErrNotFound.
func (s *Store) GetDeviceAuthorization(ctx context.Context, deviceCodeHash string) (*storage.DeviceAuthorization, error) {
	if !lookable(deviceCodeHash) {
		return nil, fmt.Errorf("postgres: get device authorization: %w", storage.ErrNotFound)
	}
	d, err := getJSON[storage.DeviceAuthorization](ctx, s.pool, "SELECT data FROM device_authorizations WHERE device_code_hash = $1", deviceCodeHash)
	if err != nil {
		return nil, fmt.Errorf("postgres: get device authorization: %w", mapErr(err))
	}
	return d, nil
}

// GetDeviceAuthorizationByUserCode returns the request whose user code hash is
// userCodeHash, or storage.ErrNotFound.
func (s *Store) GetDeviceAuthorizationByUserCode(ctx context.Context, userCodeHash string) (*storage.DeviceAuthorization, error) {
	if !lookable(userCodeHash) {
		return nil, fmt.Errorf("postgres: get device authorization by user code: %w", storage.ErrNotFound)
	}
	d, err := getJSON[storage.DeviceAuthorization](ctx, s.pool, "SELECT data FROM device_authorizations WHERE user_code_hash = $1", userCodeHash)
	if err != nil {
		return nil, fmt.Errorf("postgres: get device authorization by user code: %w", mapErr(err))
	}
	return d, nil
}

// UpdateDeviceAuthorization loads the request under a row lock, calls fn and
// stores the result in one transaction. An error from fn is returned as it is
// and changes nothing.
func (s *Store) UpdateDeviceAuthorization(ctx context.Context, deviceCodeHash string, fn func(*storage.DeviceAuthorization) error) (*storage.DeviceAuthorization, error) {
	if !lookable(deviceCodeHash) {
		return nil, fmt.Errorf("postgres: update device authorization: %w", storage.ErrNotFound)
	}
	var d *storage.DeviceAuthorization
	var fnErr error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		fnErr = nil
		if d, err = lockDevice(ctx, tx, deviceCodeHash); err != nil {
			return err
		}
		before := *d
		before.Scopes = slices.Clone(d.Scopes)
		if fnErr = fn(d); fnErr != nil {
			return fnErr
		}
		if d.DeviceCodeHash != before.DeviceCodeHash || d.UserCodeHash != before.UserCodeHash ||
			(d.Status == storage.DeviceRedeemed) != (before.Status == storage.DeviceRedeemed) {
			return fmt.Errorf("hashes or redemption: %w", errImmutableChanged)
		}
		return putDevice(ctx, tx, d)
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: update device authorization: %w", err)
	}
	return d, nil
}

// lockDevice reads the request and holds its row until the transaction ends.
func lockDevice(ctx context.Context, tx pgx.Tx, hash string) (*storage.DeviceAuthorization, error) {
	return getJSON[storage.DeviceAuthorization](ctx, tx,
		"SELECT data FROM device_authorizations WHERE device_code_hash = $1 FOR NO KEY UPDATE", hash)
}

// putDevice rewrites an existing request's row.
func putDevice(ctx context.Context, tx pgx.Tx, d *storage.DeviceAuthorization) error {
	data, err := encode(d)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "UPDATE device_authorizations SET expires_at = $2, data = $3 WHERE device_code_hash = $1",
		d.DeviceCodeHash, ts(d.ExpiresAt), data)
	return err
}

// RedeemDeviceCode marks an approved request redeemed and stores what it
// issues, in one transaction that holds the request's row lock from the
// look-up to the commit: of redemptions racing on any number of replicas, the
// first to lock the row wins and each later one finds it redeemed.
func (s *Store) RedeemDeviceCode(ctx context.Context, deviceCodeHash string, at *storage.AccessToken, family *storage.RefreshFamily, rt *storage.RefreshToken) error {
	switch {
	case at == nil:
		return errors.New("postgres: redeem device code: no access token")
	case (family == nil) != (rt == nil):
		return errors.New("postgres: redeem device code: a refresh family and its first refresh token go together")
	case !lookable(deviceCodeHash):
		return fmt.Errorf("postgres: redeem device code: %w", storage.ErrNotFound)
	}
	if family != nil {
		rt.FamilyID = family.ID
		if at.RefreshFamilyID == "" {
			at.RefreshFamilyID = family.ID
		}
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		d, err := lockDevice(ctx, tx, deviceCodeHash)
		if err != nil {
			return err
		}
		if d.Status != storage.DeviceApproved {
			return fmt.Errorf("state %s: %w", d.Status, storage.ErrConflict)
		}
		d.Status = storage.DeviceRedeemed
		if err := insertIssued(ctx, tx, at, family, rt, d.SessionSID, d.ClientID, d.SessionExpiresAt); err != nil {
			return err
		}
		return putDevice(ctx, tx, d)
	})
	if err != nil {
		return fmt.Errorf("postgres: redeem device code: %w", err)
	}
	return nil
}
