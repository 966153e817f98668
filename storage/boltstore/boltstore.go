package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/signet-idp/signet/storage"
)

var (
	_ storage.Store     = (*Store)(nil)
	_ storage.Backupper = (*Store)(nil)
	_ storage.Exporter  = (*Store)(nil)
)

// DefaultTimeout is how long Open waits for the file lock when Options.Timeout is zero.
const DefaultTimeout = time.Second

// ErrLocked means another process holds the database file's lock (normally a running
// `signet serve`). Open wraps it in an error that names the file.
var ErrLocked = errors.New("database is locked")

// Options configures Open.
type Options struct {
	// Timeout is how long Open waits for the exclusive file lock before it fails
	// with ErrLocked. Zero means DefaultTimeout; a negative value tries once.
	Timeout time.Duration
	// ReadOnly opens the file for reading only, under a shared lock (which a
	// running server's exclusive lock still refuses, with ErrLocked): no bucket
	// is created and no schema version written, so the Signet that wrote the
	// file can still open it afterwards. Such a store is for Export, Backup
	// and Ping; writes fail.
	ReadOnly bool
}

// Store is a storage.Store on one bbolt file. It is safe for concurrent use.
type Store struct {
	db           *bolt.DB
	path         string
	group        groupCommit
	observeWrite writeObserver
	clients      clientCache
}

// Bucket names. Index buckets are named after what they map.
var (
	bucketClients        = []byte("clients")          // id -> Client
	bucketUsers          = []byte("users")            // id -> User
	bucketUsernames      = []byte("usernames")        // username -> user id
	bucketSessions       = []byte("sessions")         // id -> Session
	bucketUserSessions   = []byte("user_sessions")    // key(user id, session id) -> ""
	bucketAuthRequests   = []byte("auth_requests")    // id -> AuthRequest
	bucketCodes          = []byte("codes")            // code hash -> auth request id
	bucketAccessTokens   = []byte("access_tokens")    // id -> AccessToken
	bucketFamilies       = []byte("refresh_families") // id -> RefreshFamily
	bucketRefreshTokens  = []byte("refresh_tokens")   // hash -> RefreshToken
	bucketUserFamilies   = []byte("user_families")    // key(user id, family id) -> ""
	bucketFamilyMembers  = []byte("family_members")   // key(family id, kind, token key) -> ""
	bucketKeys           = []byte("signing_keys")     // kid -> SigningKey
	bucketExpiry         = []byte("expiry")           // expiry(8) kind(1) record key -> ""
	bucketSessionClients = []byte("session_clients")  // key(sid, client id) -> ""
	bucketLogouts        = []byte("logouts")          // id -> LogoutDelivery
	bucketLogoutQueue    = []byte("logout_queue")     // next attempt(8) id -> ""
	bucketGrants         = []byte("grants")           // key(user id, client id) -> Grant
	bucketEmails         = []byte("emails")           // storage.FoldEmail(email) -> user id
	bucketGroups         = []byte("groups")           // name -> Group
	bucketRevokedJTIs    = []byte("revoked_jtis")     // jti of a revoked JWT access token -> ""
	bucketAPIs           = []byte("apis")             // audience -> API
)

var (
	allBuckets = [][]byte{bucketClients, bucketUsers, bucketUsernames, bucketSessions, bucketUserSessions,
		bucketAuthRequests, bucketCodes, bucketAccessTokens, bucketFamilies, bucketRefreshTokens,
		bucketUserFamilies, bucketFamilyMembers, bucketKeys, bucketExpiry,
		bucketSessionClients, bucketLogouts, bucketLogoutQueue, bucketGrants, bucketEmails, bucketGroups,
		bucketRevokedJTIs, bucketAPIs, bucketDevices, bucketUserCodes}
	emptyValue           = []byte{}
	errEmptyKey          = errors.New("empty key")
	errImmutableChanged  = errors.New("update function changed an immutable field")
	minExpiry, maxExpiry = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
)

// maxKeyLen bounds every record key and index key part (bbolt allows 32 KiB keys;
// our ids and hashes are far shorter).
const maxKeyLen = 1024

// Record kinds, used in the expiry index and the family member index.
const (
	kindAuthRequest  byte = 'a'
	kindSession      byte = 's'
	kindAccessToken  byte = 't'
	kindRefreshToken byte = 'r'
	kindFamily       byte = 'f'
	kindSessClient   byte = 'c'
	kindLogout       byte = 'l'
	kindRevokedJTI   byte = 'j'
)

// Open opens (creating it with mode 0600 if needed) the database at path. If another
// process holds the file, it fails after opts.Timeout with an error wrapping ErrLocked.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, FreelistType: bolt.FreelistArrayType, ReadOnly: opts.ReadOnly})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: %w: another process (probably a running `signet serve`) holds it; gave up after %s",
			path, ErrLocked, max(timeout, 0))
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if err := checkSchema(db, path); err != nil {
		_ = db.Close()
		return nil, err
	}
	if opts.ReadOnly {
		return &Store{db: db, path: path}, nil
	}
	err = db.Update(func(tx *bolt.Tx) error {
		indexEmails := tx.Bucket(bucketEmails) == nil
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if indexEmails {
			// A database from before the email index: build it.
			return buildEmailIndex(tx)
		}
		return nil
	})
	if err == nil {
		err = recordSchema(db)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// Path returns the path of the database file.
func (s *Store) Path() string { return s.path }

// Close closes the database and releases the file lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close %s: %w", s.path, err)
	}
	return nil
}

// Backup writes a consistent copy of the database to w from a read transaction, so
// the server keeps running while it is written. The copy is itself a bbolt file.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	if err != nil {
		return n, fmt.Errorf("boltstore: backup: %w", err)
	}
	return n, nil
}

// ctxWriter stops a long copy when its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// view and update run fn in a read or write transaction after checking ctx; bbolt
// transactions themselves do not take a context.
func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.dbUpdate(fn)
}

// get decodes the record at key into a new T; it returns nil, nil when there is none.
func get[T any](tx *bolt.Tx, bucket []byte, key string) (*T, error) {
	data := tx.Bucket(bucket).Get([]byte(key))
	if data == nil {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("decode %s %q: %w", bucket, key, err)
	}
	return v, nil
}

// put encodes v and stores it at key.
func put(tx *bolt.Tx, bucket []byte, key string, v any) error {
	if err := checkKey(key); err != nil {
		return err
	}
	data, err := encode(v)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", bucket, key, err)
	}
	return tx.Bucket(bucket).Put([]byte(key), data)
}

// encode is compact JSON: unlike json.Marshal it keeps '<', '>' and '&' as they
// are instead of six-byte escapes (a state full of them would take six times
// its size). Records are never embedded in HTML.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// exists reports whether bucket has key.
func exists(tx *bolt.Tx, bucket []byte, key string) bool {
	return key != "" && tx.Bucket(bucket).Get([]byte(key)) != nil
}

func checkKey(key string) error {
	if key == "" {
		return errEmptyKey
	}
	if len(key) > maxKeyLen {
		return fmt.Errorf("key of %d bytes is too long", len(key))
	}
	return nil
}

// listJSON decodes every value of bucket in key order. A bucket the file
// lacks (a database opened read-only, written before the bucket existed) holds
// nothing.
func listJSON[T any](tx *bolt.Tx, bucket []byte) ([]*T, error) {
	var out []*T
	err := forEach(tx, bucket, func(k, data []byte) error {
		v := new(T)
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("decode %s %q: %w", bucket, k, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// forEach calls fn for every key of bucket in order; a missing bucket has none.
func forEach(tx *bolt.Tx, bucket []byte, fn func(k, v []byte) error) error {
	b := tx.Bucket(bucket)
	if b == nil {
		return nil
	}
	return b.ForEach(fn)
}

// Composite index keys: every part but the last is length-prefixed (uvarint), so a
// prefix of whole parts never matches a longer id that merely starts the same way.

func prefixKey(parts ...string) []byte {
	var k []byte
	for _, p := range parts {
		k = binary.AppendUvarint(k, uint64(len(p)))
		k = append(k, p...)
	}
	return k
}

func indexKey(owner, member string) []byte {
	return append(prefixKey(owner), member...)
}

// memberKey is the family member index key of an access token or refresh token.
func memberKey(familyID string, kind byte, key string) []byte {
	k := append(prefixKey(familyID), kind)
	return append(k, key...)
}

// members returns the last part of every index key under prefix, in key order.
func members(tx *bolt.Tx, bucket, prefix []byte) []string {
	var out []string
	c := tx.Bucket(bucket).Cursor()
	for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out
}

func hasPrefix(k, prefix []byte) bool {
	return len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
}

// Expiry index. A key is the expiry as 8 bytes that sort like the signed unix-nano
// time, the record kind, then the record key; the cursor walks it in time order.

func expiryKey(at time.Time, kind byte, key string) []byte {
	k := make([]byte, 9, 9+len(key))
	binary.BigEndian.PutUint64(k, sortableNanos(at))
	k[8] = kind
	return append(k, key...)
}

// sortableNanos maps at to a uint64 whose big-endian bytes sort in time order. Times
// outside int64 nanoseconds (including the zero time) are clamped, so a zero expiry
// sorts first: the records' Expired methods treat it as already expired.
func sortableNanos(at time.Time) uint64 {
	var n int64
	switch {
	case at.Before(minExpiry):
		n = math.MinInt64
	case at.After(maxExpiry):
		n = math.MaxInt64
	default:
		n = at.UnixNano()
	}
	return uint64(n) ^ (1 << 63)
}

// fromSortableNanos is the time sortableNanos mapped (clamped times stay
// clamped).
func fromSortableNanos(v uint64) time.Time {
	return time.Unix(0, int64(v^(1<<63))).UTC()
}

func putExpiry(tx *bolt.Tx, at time.Time, kind byte, key string) error {
	return tx.Bucket(bucketExpiry).Put(expiryKey(at, kind, key), emptyValue)
}

func deleteExpiry(tx *bolt.Tx, at time.Time, kind byte, key string) error {
	return tx.Bucket(bucketExpiry).Delete(expiryKey(at, kind, key))
}

// deleteExpiredIndexed drops at most limit records of a bucket that keeps an
// expiry index of its own (index keys: expiry(8) then the record key), those
// whose expiry is not after deadline (sortableNanos), earliest first, and
// reports how many. Buckets the file lacks hold nothing.
func deleteExpiredIndexed(tx *bolt.Tx, records, index []byte, deadline uint64, limit int) (int, error) {
	idx, b := tx.Bucket(index), tx.Bucket(records)
	if idx == nil || b == nil {
		return 0, nil
	}
	n := 0
	for n < limit {
		// A fresh cursor each time: the deletions below change the bucket.
		k, _ := idx.Cursor().First()
		if k == nil || len(k) < 8 || binary.BigEndian.Uint64(k[:8]) > deadline {
			break
		}
		entry := append([]byte(nil), k...)
		if err := b.Delete(entry[8:]); err != nil {
			return n, err
		}
		if err := idx.Delete(entry); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// moveExpiry replaces a record's expiry entry when its expiry changed.
func moveExpiry(tx *bolt.Tx, from, to time.Time, kind byte, key string) error {
	if sortableNanos(from) == sortableNanos(to) {
		return nil
	}
	if err := deleteExpiry(tx, from, kind, key); err != nil {
		return err
	}
	return putExpiry(tx, to, kind, key)
}

// DeleteExpired removes, in expiry order, at most limit records whose expiry is not
// after now (the records' Expired methods count the expiry instant as expired), with
// their index entries. Deleting a refresh family also deletes its remaining refresh
// tokens; those are not counted. Access tokens linked to the family are kept until
// their own expiry.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("boltstore: delete expired: limit %d is not positive", limit)
	}
	deadline := sortableNanos(now)
	n := 0
	// The janitor's deletions join the token endpoint's commits rather than
	// holding the writer through syncs of their own while token writes wait.
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		n = 0
		// Used client assertions keep an expiry index of their own (assertions.go).
		m, err := deleteExpiredIndexed(tx, bucketAssertionJTIs, bucketAssertionExpiry, deadline, limit)
		if err != nil {
			return fmt.Errorf("assertion jtis: %w", err)
		}
		n = m
		if m, err = deleteExpiredIndexed(tx, bucketThrottles, bucketThrottleExpiry, deadline, limit-n); err != nil {
			return fmt.Errorf("throttles: %w", err)
		}
		n += m
		for n < limit {
			// A fresh cursor each time: the deletions below change the bucket.
			k, _ := tx.Bucket(bucketExpiry).Cursor().First()
			if k == nil || binary.BigEndian.Uint64(k[:8]) > deadline {
				return nil
			}
			kind, key := k[8], string(k[9:])
			entry := append([]byte(nil), k...)
			found, err := deleteExpiredRecord(tx, kind, key)
			if err != nil {
				return fmt.Errorf("%c %q: %w", kind, key, err)
			}
			// The record's own deletion removed its entry; an orphan entry goes too.
			if err := tx.Bucket(bucketExpiry).Delete(entry); err != nil {
				return err
			}
			if found {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: delete expired: %w", err)
	}
	return n, nil
}

func deleteExpiredRecord(tx *bolt.Tx, kind byte, key string) (bool, error) {
	switch kind {
	case kindAuthRequest:
		return deleteAuthRequest(tx, key)
	case kindSession:
		return deleteSession(tx, key)
	case kindAccessToken:
		return deleteAccessToken(tx, key)
	case kindRefreshToken:
		return deleteRefreshToken(tx, key)
	case kindFamily:
		return deleteFamily(tx, key)
	case kindSessClient:
		return deleteSessionClient(tx, key)
	case kindLogout:
		return deleteLogout(tx, key)
	case kindRevokedJTI:
		return deleteRevokedJTI(tx, key)
	case kindDevice:
		return deleteDevice(tx, key)
	default:
		return false, fmt.Errorf("unknown record kind %q in the expiry index", kind)
	}
}
