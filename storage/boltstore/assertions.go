package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// Used client assertions (private_key_jwt) live in buckets of their own, with
// an expiry index of their own rather than a kind in the shared one: an older
// Signet opening the file ignores buckets it does not know, where an unknown
// kind in the shared index would stop its janitor. The buckets are created by
// the first use, so that opening a database never needs them.
var (
	bucketAssertionJTIs   = []byte("assertion_jtis")       // key(client id, jti) -> expiry(8)
	bucketAssertionExpiry = []byte("assertion_jti_expiry") // expiry(8) key(client id, jti) -> ""
)

// UseAssertionJTI records jti as used by clientID until expiresAt; a pair
// already recorded is storage.ErrReused. The check and the write are one
// transaction (shared with the token endpoint's other writes).
func (s *Store) UseAssertionJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	if err := checkKey(clientID); err != nil {
		return fmt.Errorf("boltstore: use assertion jti: client id: %w", err)
	}
	if err := checkKey(jti); err != nil {
		return fmt.Errorf("boltstore: use assertion jti: %w", err)
	}
	k := indexKey(clientID, jti)
	exp := binary.BigEndian.AppendUint64(nil, sortableNanos(expiresAt))
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketAssertionJTIs); b != nil && b.Get(k) != nil {
			return refuse(storage.ErrReused)
		}
		b, err := tx.CreateBucketIfNotExists(bucketAssertionJTIs)
		if err != nil {
			return err
		}
		idx, err := tx.CreateBucketIfNotExists(bucketAssertionExpiry)
		if err != nil {
			return err
		}
		if err := b.Put(k, exp); err != nil {
			return err
		}
		return idx.Put(append(exp[:8:8], k...), emptyValue)
	})
	if err != nil {
		return fmt.Errorf("boltstore: use assertion jti of client %q: %w", clientID, err)
	}
	return nil
}
