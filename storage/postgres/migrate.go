package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// SchemaVersion is the newest schema this binary knows: the number of the last
// file in migrations/. Open applies every migration above the database's
// version, and refuses a database whose version is above this one (written by
// a newer Signet, whose data this code might damage).
const SchemaVersion = 4

// ErrSchemaTooNew means the database was migrated by a newer Signet.
var ErrSchemaTooNew = errors.New("database schema is newer than this Signet")

// Migrations are numbered files, NNNN_what.sql, applied in order, each in one
// transaction with the row that records it. A released file never changes: a
// change to the schema is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the key of the session-level advisory lock held while
// migrating ("signet" in ASCII), so that replicas starting together migrate
// once: the others wait, then find nothing left to do.
const migrationLock int64 = 0x7369676e6574

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded files, which must be numbered 1, 2, ...
// without gaps.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || path.Ext(e.Name()) != ".sql" {
			return nil, fmt.Errorf("migration file %q is not named NNNN_what.sql", e.Name())
		}
		if v != len(out)+1 {
			return nil, fmt.Errorf("migration file %q: want number %d", e.Name(), len(out)+1)
		}
		data, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(data)})
	}
	return out, nil
}

// migrate brings the schema to SchemaVersion under the advisory lock.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	if len(ms) != SchemaVersion {
		return fmt.Errorf("postgres: %d migration files but SchemaVersion %d", len(ms), SchemaVersion)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: open: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("postgres: wait for the migration lock: %w", err)
	}
	defer func() {
		// A session lock outlives a failed transaction: release it, or close the
		// connection (which releases it) if even that fails.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS signet_schema (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("postgres: schema version table: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM signet_schema").Scan(&current); err != nil {
		return fmt.Errorf("postgres: read the schema version: %w", err)
	}
	if current > SchemaVersion {
		return fmt.Errorf("postgres: %w: the database has schema version %d and this Signet knows up to %d; "+
			"run the Signet version that migrated it (or a newer one), or restore a backup made by this version",
			ErrSchemaTooNew, current, SchemaVersion)
	}
	for _, m := range ms[current:] {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.name, err)
		}
		// The simple protocol runs a file of several statements in one call.
		_, err = tx.Conn().PgConn().Exec(ctx, m.sql).ReadAll()
		if err == nil {
			_, err = tx.Exec(ctx, "INSERT INTO signet_schema (version) VALUES ($1)", m.version)
		}
		if err == nil {
			err = tx.Commit(ctx)
		}
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return fmt.Errorf("postgres: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// Version returns the schema version recorded in the database.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM signet_schema").Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: read the schema version: %w", err)
	}
	return v, nil
}
