package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/signet-idp/signet/storage"
)

var (
	_ storage.Store    = (*Store)(nil)
	_ storage.Exporter = (*Store)(nil)
	_ storage.Importer = (*Store)(nil)
)

// Options configures Open.
type Options struct {
	// MaxConns bounds the connection pool. Zero keeps the connection string's
	// pool_max_conns, or pgxpool's default (the larger of 4 and the CPUs).
	MaxConns int32
}

// Store is a storage.Store on a PostgreSQL database. It is safe for concurrent
// use, by any number of processes sharing the database.
type Store struct {
	pool *pgxpool.Pool
}

// maxKeyLen bounds every key and id, as boltstore does: a btree index entry must
// fit in a third of a page, and no id or hash of ours comes near it.
const maxKeyLen = 1024

// maxTxAttempts is how often a transaction that PostgreSQL aborted for a
// deadlock or a serialization failure runs before the error is returned.
const maxTxAttempts = 3

var (
	errEmptyKey         = errors.New("empty key")
	errImmutableChanged = errors.New("update function changed an immutable field")
)

// Open connects to the database that dsn names (a postgres:// URL or key=value
// pairs; libpq's environment, PGPASSWORD and PGPASSFILE among it, fills what dsn
// leaves out), applies the migrations it lacks under an advisory lock, and
// returns the store. It refuses a database whose schema is newer than this
// binary knows (ErrSchemaTooNew). Errors never contain the connection string.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx masks passwords in its message only on a best-effort basis, and
		// a url.Error quotes the whole URL: say nothing of the string itself.
		return nil, errors.New("postgres: the connection string cannot be parsed; check its syntax (a postgres:// URL or key=value pairs)")
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// tx runs fn in a read-committed transaction and commits it when fn returns
// nil. A deadlock or serialization failure runs fn again (up to maxTxAttempts),
// so fn must assign its results rather than accumulate them.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if attempt < maxTxAttempts && retryable(err) {
			continue
		}
		return mapErr(err)
	}
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// mapErr maps PostgreSQL's errors onto the storage sentinels, keeping the
// original in the chain.
func mapErr(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w (%w)", storage.ErrNotFound, err)
	case unavailable(err):
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	case !errors.As(err, &pgErr):
		return err
	case pgErr.Code == "23505": // unique_violation
		return fmt.Errorf("%w (constraint %s)", storage.ErrAlreadyExists, pgErr.ConstraintName)
	case pgErr.Code == "40001" || pgErr.Code == "40P01":
		return fmt.Errorf("%w: %w", storage.ErrConflict, err)
	}
	return err
}

// unavailable reports whether err says the database cannot be reached just now:
// no connection could be made, the connection broke, or the server is shutting
// down or starting (SQLSTATE class 08, 57P01-57P03).
func unavailable(err error) bool {
	var connErr *pgconn.ConnectError
	var netErr net.Error
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &connErr), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true
	case errors.As(err, &pgErr):
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	return pgconn.SafeToRetry(err)
}

// checkKey refuses a key that cannot be stored: empty, longer than maxKeyLen,
// or not valid UTF-8 without NUL (what PostgreSQL's text accepts).
func checkKey(key string) error {
	switch {
	case key == "":
		return errEmptyKey
	case len(key) > maxKeyLen:
		return fmt.Errorf("key of %d bytes is too long", len(key))
	case !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0:
		return errors.New("key is not valid UTF-8 text")
	}
	return nil
}

// lookable reports whether key could be stored: a look-up of any other key is
// ErrNotFound without asking the database (it would refuse invalid UTF-8).
func lookable(key string) bool { return checkKey(key) == nil }

// encode is compact JSON that keeps '<', '>' and '&' as they are (records are
// never embedded in HTML), as boltstore writes it.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// decode reads a record written by encode.
func decode[T any](data []byte) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("decode %T: %w", v, err)
	}
	return v, nil
}

// Times outside PostgreSQL's timestamptz range (and Go's JSON encoding of it)
// are clamped for the index columns, as boltstore clamps its expiry keys; the
// records keep the exact value.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

func ts(t time.Time) time.Time {
	switch {
	case t.Before(minTime):
		return minTime
	case t.After(maxTime):
		return maxTime
	}
	return t.UTC()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// getJSON runs a query returning one data column and decodes it; no row is
// storage.ErrNotFound.
func getJSON[T any](ctx context.Context, q querier, sql string, args ...any) (*T, error) {
	var data []byte
	if err := q.QueryRow(ctx, sql, args...).Scan(&data); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, storage.ErrNotFound
		}
		return nil, err
	}
	return decode[T](data)
}

// listJSON runs a query returning one data column per row and decodes each.
func listJSON[T any](ctx context.Context, q querier, sql string, args ...any) ([]*T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*T, error) {
		var data []byte
		if err := row.Scan(&data); err != nil {
			return nil, err
		}
		return decode[T](data)
	})
}

// querier is what a pool and a transaction both offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
