package boltstore

import bolt "go.etcd.io/bbolt"

// LeftoverKeys returns the number of keys in each bucket that is not empty, so that
// tests can check that deletions leave no index entries behind.
func (s *Store) LeftoverKeys() (map[string]int, error) {
	counts := map[string]int{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if n := b.Stats().KeyN; n > 0 {
				counts[string(name)] = n
			}
			return nil
		})
	})
	return counts, err
}

// DropBucketForTest deletes a bucket, to stand for a database written before it
// existed.
func (s *Store) DropBucketForTest(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte(name)) })
}
