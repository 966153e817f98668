package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// AddSessionClient records that clientID received tokens in session sid.
func (s *Store) AddSessionClient(ctx context.Context, sid, clientID string, expiresAt time.Time) error {
	if err := checkKey(sid); err != nil {
		return fmt.Errorf("boltstore: add session client: %w", err)
	}
	if err := checkKey(clientID); err != nil {
		return fmt.Errorf("boltstore: add session client: %w", err)
	}
	err := s.batch(ctx, func(tx *bolt.Tx) error { return putSessionClient(tx, sid, clientID, expiresAt) })
	if err != nil {
		return fmt.Errorf("boltstore: add session client: %w", err)
	}
	return nil
}

func putSessionClient(tx *bolt.Tx, sid, clientID string, expiresAt time.Time) error {
	key := indexKey(sid, clientID)
	b := tx.Bucket(bucketSessionClients)
	if old := b.Get(key); old != nil && len(old) == 8 {
		if err := deleteExpiry(tx, time.Unix(0, int64(binary.BigEndian.Uint64(old))), kindSessClient, string(key)); err != nil {
			return err
		}
	}
	// The value is the expiry, so that a later call can move its index entry.
	v := binary.BigEndian.AppendUint64(nil, uint64(expiresAt.UnixNano()))
	if err := b.Put(key, v); err != nil {
		return err
	}
	return putExpiry(tx, expiresAt, kindSessClient, string(key))
}

// ListSessionClients returns the clients recorded for sid.
func (s *Store) ListSessionClients(ctx context.Context, sid string) ([]string, error) {
	var out []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		out = members(tx, bucketSessionClients, prefixKey(sid))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list session clients: %w", err)
	}
	return out, nil
}

func deleteSessionClient(tx *bolt.Tx, key string) (bool, error) {
	b := tx.Bucket(bucketSessionClients)
	if b.Get([]byte(key)) == nil {
		return false, nil
	}
	return true, b.Delete([]byte(key))
}

func queueKey(at time.Time, id string) []byte {
	k := binary.BigEndian.AppendUint64(nil, sortableNanos(at))
	return append(k, id...)
}

// EnqueueLogouts stores new deliveries.
func (s *Store) EnqueueLogouts(ctx context.Context, ds []*storage.LogoutDelivery) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		for _, d := range ds {
			if exists(tx, bucketLogouts, d.ID) {
				return fmt.Errorf("logout %q: %w", d.ID, storage.ErrAlreadyExists)
			}
			if err := put(tx, bucketLogouts, d.ID, d); err != nil {
				return err
			}
			if err := tx.Bucket(bucketLogoutQueue).Put(queueKey(d.NextAttempt, d.ID), emptyValue); err != nil {
				return err
			}
			if err := putExpiry(tx, d.ExpiresAt, kindLogout, d.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: enqueue logouts: %w", err)
	}
	return nil
}

// DueLogouts returns the deliveries due at now, earliest first.
func (s *Store) DueLogouts(ctx context.Context, now time.Time, limit int) ([]*storage.LogoutDelivery, error) {
	var out []*storage.LogoutDelivery
	deadline := sortableNanos(now)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLogoutQueue).Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			if binary.BigEndian.Uint64(k[:8]) > deadline {
				break
			}
			d, err := get[storage.LogoutDelivery](tx, bucketLogouts, string(k[8:]))
			if err != nil {
				return err
			}
			if d != nil {
				out = append(out, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: due logouts: %w", err)
	}
	return out, nil
}

// UpdateLogout loads, calls fn and stores the delivery in one transaction.
func (s *Store) UpdateLogout(ctx context.Context, id string, fn func(*storage.LogoutDelivery) error) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		d, err := get[storage.LogoutDelivery](tx, bucketLogouts, id)
		if err != nil {
			return err
		}
		if d == nil {
			return storage.ErrNotFound
		}
		old := *d
		if err := fn(d); err != nil {
			return err
		}
		if d.ID != old.ID {
			return errImmutableChanged
		}
		if err := tx.Bucket(bucketLogoutQueue).Delete(queueKey(old.NextAttempt, id)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketLogoutQueue).Put(queueKey(d.NextAttempt, id), emptyValue); err != nil {
			return err
		}
		if err := moveExpiry(tx, old.ExpiresAt, d.ExpiresAt, kindLogout, id); err != nil {
			return err
		}
		return put(tx, bucketLogouts, id, d)
	})
	if err != nil {
		return fmt.Errorf("boltstore: update logout %q: %w", id, err)
	}
	return nil
}

// DeleteLogout removes a delivery.
func (s *Store) DeleteLogout(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		found, err := deleteLogout(tx, id)
		if err != nil {
			return err
		}
		if !found {
			return storage.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: delete logout %q: %w", id, err)
	}
	return nil
}

func deleteLogout(tx *bolt.Tx, id string) (bool, error) {
	d, err := get[storage.LogoutDelivery](tx, bucketLogouts, id)
	if err != nil || d == nil {
		return false, err
	}
	if err := tx.Bucket(bucketLogoutQueue).Delete(queueKey(d.NextAttempt, id)); err != nil {
		return false, err
	}
	if err := deleteExpiry(tx, d.ExpiresAt, kindLogout, id); err != nil {
		return false, err
	}
	return true, tx.Bucket(bucketLogouts).Delete([]byte(id))
}
