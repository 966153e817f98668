package boltstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// Device authorization (RFC 8628) buckets and their kind in the expiry index.
var (
	bucketDevices   = []byte("device_authorizations") // device code hash -> DeviceAuthorization
	bucketUserCodes = []byte("device_user_codes")     // user code hash -> device code hash
)

const kindDevice byte = 'd'

// CreateDeviceAuthorization stores d with its user-code index and expiry entry;
// it returns storage.ErrAlreadyExists when either hash is taken.
func (s *Store) CreateDeviceAuthorization(ctx context.Context, d *storage.DeviceAuthorization) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if err := checkKey(d.UserCodeHash); err != nil {
			return fmt.Errorf("user code hash: %w", err)
		}
		if exists(tx, bucketDevices, d.DeviceCodeHash) || exists(tx, bucketUserCodes, d.UserCodeHash) {
			return storage.ErrAlreadyExists
		}
		if err := put(tx, bucketDevices, d.DeviceCodeHash, d); err != nil {
			return err
		}
		if err := tx.Bucket(bucketUserCodes).Put([]byte(d.UserCodeHash), []byte(d.DeviceCodeHash)); err != nil {
			return err
		}
		return putExpiry(tx, d.ExpiresAt, kindDevice, d.DeviceCodeHash)
	})
	if err != nil {
		return fmt.Errorf("boltstore: create device authorization: %w", err)
	}
	return nil
}

// getDevice returns the record at hash, or storage.ErrNotFound.
func getDevice(tx *bolt.Tx, hash string) (*storage.DeviceAuthorization, error) {
	if hash == "" || len(hash) > maxKeyLen {
		return nil, storage.ErrNotFound
	}
	d, err := get[storage.DeviceAuthorization](tx, bucketDevices, hash)
	if err == nil && d == nil {
		err = storage.ErrNotFound
	}
	return d, err
}

// GetDeviceAuthorization returns the request, or storage.ErrNotFound.
func (s *Store) GetDeviceAuthorization(ctx context.Context, deviceCodeHash string) (*storage.DeviceAuthorization, error) {
	var d *storage.DeviceAuthorization
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		d, err = getDevice(tx, deviceCodeHash)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get device authorization: %w", err)
	}
	return d, nil
}

// GetDeviceAuthorizationByUserCode returns the request whose user code hash is
// userCodeHash, or storage.ErrNotFound.
func (s *Store) GetDeviceAuthorizationByUserCode(ctx context.Context, userCodeHash string) (*storage.DeviceAuthorization, error) {
	var d *storage.DeviceAuthorization
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if userCodeHash == "" || len(userCodeHash) > maxKeyLen {
			return storage.ErrNotFound
		}
		key := tx.Bucket(bucketUserCodes).Get([]byte(userCodeHash))
		if key == nil {
			return storage.ErrNotFound
		}
		var err error
		d, err = getDevice(tx, string(key))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get device authorization by user code: %w", err)
	}
	return d, nil
}

// UpdateDeviceAuthorization loads the request, calls fn and stores the result
// in one transaction. An error from fn is returned as it is and changes nothing.
func (s *Store) UpdateDeviceAuthorization(ctx context.Context, deviceCodeHash string, fn func(*storage.DeviceAuthorization) error) (*storage.DeviceAuthorization, error) {
	var d *storage.DeviceAuthorization
	var fnErr error
	err := s.update(ctx, func(tx *bolt.Tx) error {
		fnErr = nil
		var err error
		if d, err = getDevice(tx, deviceCodeHash); err != nil {
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
		if err := moveExpiry(tx, before.ExpiresAt, d.ExpiresAt, kindDevice, d.DeviceCodeHash); err != nil {
			return err
		}
		return put(tx, bucketDevices, d.DeviceCodeHash, d)
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: update device authorization: %w", err)
	}
	return d, nil
}

// RedeemDeviceCode marks an approved request redeemed and stores what it
// issues in one transaction (shared with the token endpoint's other writes).
func (s *Store) RedeemDeviceCode(ctx context.Context, deviceCodeHash string, at *storage.AccessToken, family *storage.RefreshFamily, rt *storage.RefreshToken) error {
	switch {
	case at == nil:
		return errors.New("boltstore: redeem device code: no access token")
	case (family == nil) != (rt == nil):
		return errors.New("boltstore: redeem device code: a refresh family and its first refresh token go together")
	}
	if family != nil {
		rt.FamilyID = family.ID
		if at.RefreshFamilyID == "" {
			at.RefreshFamilyID = family.ID
		}
	}
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		d, err := getDevice(tx, deviceCodeHash)
		if err != nil {
			return refuse(err)
		}
		if d.Status != storage.DeviceApproved {
			return refuse(fmt.Errorf("state %s: %w", d.Status, storage.ErrConflict))
		}
		d.Status = storage.DeviceRedeemed
		if err := putIssued(tx, at, family, rt, d.SessionSID, d.ClientID, d.SessionExpiresAt); err != nil {
			return err
		}
		return put(tx, bucketDevices, d.DeviceCodeHash, d)
	})
	if err != nil {
		return fmt.Errorf("boltstore: redeem device code: %w", err)
	}
	return nil
}

// deleteDevice removes the request and its user-code index entry; it reports
// whether the request existed.
func deleteDevice(tx *bolt.Tx, hash string) (bool, error) {
	d, err := get[storage.DeviceAuthorization](tx, bucketDevices, hash)
	if err != nil || d == nil {
		return false, err
	}
	if err := tx.Bucket(bucketUserCodes).Delete([]byte(d.UserCodeHash)); err != nil {
		return false, err
	}
	if err := deleteExpiry(tx, d.ExpiresAt, kindDevice, hash); err != nil {
		return false, err
	}
	return true, tx.Bucket(bucketDevices).Delete([]byte(hash))
}
