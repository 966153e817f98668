package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// Sign-in failure counters live in buckets of their own with their own
// expiry index, created by the first use, for the reason assertions.go gives:
// an older Signet ignores buckets it does not know.
var (
	bucketThrottles      = []byte("throttles")       // key -> Throttle
	bucketThrottleExpiry = []byte("throttle_expiry") // expiry(8) key -> ""
)

// GetThrottle returns the counter under key, or the zero Throttle.
func (s *Store) GetThrottle(ctx context.Context, key string) (storage.Throttle, error) {
	var t storage.Throttle
	if checkKey(key) != nil {
		return t, nil // no such key can be stored
	}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketThrottles)
		if b == nil {
			return nil
		}
		if data := b.Get([]byte(key)); data != nil {
			return json.Unmarshal(data, &t)
		}
		return nil
	})
	if err != nil {
		return storage.Throttle{}, fmt.Errorf("boltstore: get throttle: %w", err)
	}
	return t, nil
}

// UpdateThrottle changes key's counter in one transaction (joining the group
// commit), deleting it when fn leaves nothing counted.
func (s *Store) UpdateThrottle(ctx context.Context, key string, fn func(*storage.Throttle)) (storage.Throttle, error) {
	if err := checkKey(key); err != nil {
		return storage.Throttle{}, fmt.Errorf("boltstore: update throttle: %w", err)
	}
	var out storage.Throttle
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketThrottles)
		if err != nil {
			return err
		}
		idx, err := tx.CreateBucketIfNotExists(bucketThrottleExpiry)
		if err != nil {
			return err
		}
		var t storage.Throttle
		if data := b.Get([]byte(key)); data != nil {
			if err := json.Unmarshal(data, &t); err != nil {
				return fmt.Errorf("decode throttle %q: %w", key, err)
			}
			if err := idx.Delete(throttleExpiryKey(t, key)); err != nil {
				return err
			}
		}
		fn(&t)
		out = t
		if t.Zero() {
			return b.Delete([]byte(key))
		}
		data, err := encode(&t)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(key), data); err != nil {
			return err
		}
		return idx.Put(throttleExpiryKey(t, key), emptyValue)
	})
	if err != nil {
		return storage.Throttle{}, fmt.Errorf("boltstore: update throttle: %w", err)
	}
	return out, nil
}

func throttleExpiryKey(t storage.Throttle, key string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, sortableNanos(t.ExpiresAt)), key...)
}
