package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the version of the data layout this code reads and writes.
// Open records it in the meta bucket; it refuses a database with a higher one
// (written by a newer Signet, whose records this code might damage) and
// upgrades a lower one in place.
//
//   - 0: no meta bucket (every database before versioning).
//   - 1: the meta bucket with this version; the email index (built on open
//     when missing).
//   - 2: refresh tokens, refresh families and auth requests written in a
//     binary form (codec.go); those written as JSON before are still read, so
//     there is nothing to upgrade, but a version-1 binary cannot read the new
//     ones.
//
// Raise it, and describe the step here, when a change needs an upgrade that
// an older binary would not understand.
const SchemaVersion = 2

// ErrSchemaTooNew means the database was written by a newer Signet.
var ErrSchemaTooNew = errors.New("database schema is newer than this Signet")

var (
	bucketMeta       = []byte("meta")
	keySchemaVersion = []byte("schema_version")
)

// schemaVersion reads the recorded version; 0 when none is recorded.
func schemaVersion(tx *bolt.Tx) (uint64, error) {
	b := tx.Bucket(bucketMeta)
	if b == nil {
		return 0, nil
	}
	v := b.Get(keySchemaVersion)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("schema version record of %d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// checkSchema refuses a database written by a newer Signet, before Open
// changes anything in it.
func checkSchema(db *bolt.DB, path string) error {
	return db.View(func(tx *bolt.Tx) error {
		v, err := schemaVersion(tx)
		if err != nil {
			return fmt.Errorf("boltstore: open %s: %w", path, err)
		}
		if v > SchemaVersion {
			return fmt.Errorf("boltstore: open %s: %w: it has schema version %d and this Signet knows up to %d; "+
				"run the Signet version that wrote it (or newer), or restore a backup made by this version", path, ErrSchemaTooNew, v, SchemaVersion)
		}
		return nil
	})
}

// recordSchema writes SchemaVersion once Open's upgrades have run.
func recordSchema(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		if v, err := schemaVersion(tx); err != nil || v == SchemaVersion {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, SchemaVersion))
	})
}

// SetSchemaVersionForTest records v as the schema version of the database at
// path (which no process may hold open). Tests use it to fake a database
// written by another version.
func SetSchemaVersionForTest(path string, v uint64) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, v))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Ping reports whether the database answers a read transaction: an error once
// it is closed.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketKeys) == nil {
			return errors.New("boltstore: the database has no keys bucket")
		}
		return nil
	})
}

// Stats is what the metrics read from the store at scrape time.
type Stats struct {
	// Size is the database file's size in bytes (freed pages included until
	// `signet compact`).
	Size int64
	// LogoutQueue is the number of back-channel logout notices waiting.
	LogoutQueue int
}

// Stats reads the store's gauges in one read transaction.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := s.view(ctx, func(tx *bolt.Tx) error {
		st.Size = tx.Size()
		st.LogoutQueue = tx.Bucket(bucketLogoutQueue).Stats().KeyN
		return nil
	})
	return st, err
}

// SetWriteObserver has fn called with the duration of every write transaction
// (its commit and fsync included), from the writing goroutine; fn must be quick.
func (s *Store) SetWriteObserver(fn func(time.Duration)) { s.observeWrite.Store(&fn) }

// writeObserver is the optional callback of SetWriteObserver.
type writeObserver = atomic.Pointer[func(time.Duration)]

// dbUpdate is db.Update, timed for the write observer.
func (s *Store) dbUpdate(fn func(*bolt.Tx) error) error {
	obs := s.observeWrite.Load()
	if obs == nil {
		return s.db.Update(fn)
	}
	start := time.Now()
	err := s.db.Update(fn)
	(*obs)(time.Since(start))
	return err
}

// Compact rewrites the database at path into a new file without its free
// pages and puts it in place, returning the sizes before and after. It takes
// the file's lock like Open (so it fails with ErrLocked while a server runs)
// and refuses a database of a newer schema. A crash leaves either the old file
// or the new one at path, and at worst a temporary file beside it.
func Compact(path string, opts Options) (before, after int64, err error) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return 0, 0, fmt.Errorf("boltstore: compact %s: %w: another process (probably a running `signet serve`) holds it", path, ErrLocked)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact %s: %w", path, err)
	}
	defer src.Close()
	if err := checkSchema(src, path); err != nil {
		return 0, 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".compact-*")
	if err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath) // a no-op once renamed
	dst, err := bolt.Open(tmpPath, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	if err := bolt.Compact(dst, src, 64<<20); err != nil {
		dst.Close()
		return 0, 0, fmt.Errorf("boltstore: compact %s: %w", path, err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	if err := dst.Close(); err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	if err := os.Chmod(tmpPath, fi.Mode().Perm()); err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	nfi, err := os.Stat(tmpPath)
	if err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	// Still holding the old file's lock: no server can open it meanwhile.
	if err := os.Rename(tmpPath, path); err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return fi.Size(), nfi.Size(), nil
}

// BackupFile writes a consistent copy of the database at path to w without a
// Store: the file is opened read-only (never created, never upgraded), so it
// fails with ErrLocked while a server holds it, and with ErrSchemaTooNew for a
// newer schema.
func BackupFile(ctx context.Context, path string, w io.Writer, opts Options) (int64, error) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("boltstore: backup: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: true})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return 0, fmt.Errorf("boltstore: backup %s: %w: another process (probably a running `signet serve`) holds it", path, ErrLocked)
	}
	if err != nil {
		return 0, fmt.Errorf("boltstore: backup %s: %w", path, err)
	}
	defer db.Close()
	if err := checkSchema(db, path); err != nil {
		return 0, err
	}
	s := &Store{db: db, path: path}
	return s.Backup(ctx, w)
}
