package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/postgres"
)

// serverStore is a backend as serve uses it: the contract, and a liveness
// check for /readyz. What only one backend has (bbolt's write timing, file
// size and online backup) is found by type assertion.
type serverStore interface {
	storage.Store
	Ping(ctx context.Context) error
}

var (
	_ serverStore = (*postgres.Store)(nil)
)

// openPostgres opens the database cfg.Storage names, migrating its schema if
// needed. Its errors never show the connection string (it may hold the
// password).
func openPostgres(ctx context.Context, cfg *Config) (*postgres.Store, error) {
	dsn := cfg.Storage.DatabaseURL()
	if dsn == "" {
		return nil, fmt.Errorf("storage.type postgres needs storage.dsn or %s", EnvDatabaseURL)
	}
	// Bounded: a database that does not answer fails the start with a message,
	// and a supervisor restarts it, rather than hanging.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	store, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		return nil, fmt.Errorf("storage (postgres): %w", err)
	}
	return store, nil
}

// newPostgresServer is newServer with PostgreSQL: the secrets come from the
// environment only (replicas share them) and data_dir is not used.
func newPostgresServer(ctx context.Context, cfg *Config, now func() time.Time, opts ...serverOption) (*server, error) {
	given := &server{}
	for _, o := range opts {
		o(given)
	}
	secrets := given.secrets
	if secrets == nil {
		var err error
		if secrets, err = LoadSharedSecrets(); err != nil {
			return nil, err
		}
	}
	store, err := openPostgres(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s, err := wire(ctx, cfg, store, secrets, now, opts...)
	if err != nil {
		store.Close()
		return nil, err
	}
	return s, nil
}

// openPostgresManager is openManager with PostgreSQL: the CLI opens the
// database itself, whether or not servers run (there is no file lock to
// respect, and no admin socket), and what it changes is in the database every
// replica reads.
func openPostgresManager(cfg *Config) (admin.Manager, func() error, error) {
	store, err := openPostgres(context.Background(), cfg)
	if err != nil {
		return nil, nil, err
	}
	// Key commands need the key-encryption key; without it the other
	// commands still work.
	secrets, _ := LoadSharedSecrets()
	return directService(cfg, store, secrets), store.Close, nil
}

// postgresProblems is what `config check` finds with storage.type postgres:
// the two secrets must be in the environment (or _FILE variables), and the
// database should answer with a schema this Signet can use. It connects, reads
// and changes nothing.
func postgresProblems(cfg *Config) (problems, notes []string) {
	notes = append(notes, "storage.type postgres: data_dir is not used; the management commands open the database directly")
	for _, sec := range []struct{ env, what string }{
		{EnvKeyEncryptionKey, "key-encryption key"},
		{EnvCookieKey, "cookie key"},
	} {
		if given, problem := envSecretProblem(sec.env, sec.what); given {
			if problem != "" {
				problems = append(problems, problem)
			}
			continue
		}
		fileVar := sec.env + fileEnvSuffix
		problems = append(problems, fmt.Sprintf("%s: set %s or %s: with storage.type postgres every replica must be given the same key, "+
			"so Signet never generates one (make it once with: openssl rand -base64 32)", sec.what, sec.env, fileVar))
	}
	dsn := cfg.Storage.DatabaseURL()
	if os.Getenv(EnvDatabaseURL) != "" {
		notes = append(notes, fmt.Sprintf("storage: the connection string comes from %s, not storage.dsn", EnvDatabaseURL))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		// pgconn's errors name the host and user, never the password.
		problems = append(problems, fmt.Sprintf("storage: cannot connect to PostgreSQL: %v", err))
		return problems, notes
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v int
	err = conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM signet_schema").Scan(&v)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table
		notes = append(notes, "storage: the database answers and holds no Signet schema yet; signet serve creates it")
	case err != nil:
		problems = append(problems, fmt.Sprintf("storage: read the schema version: %v", err))
	case v > postgres.SchemaVersion:
		problems = append(problems, fmt.Sprintf("storage: the database has schema version %d and this Signet knows up to %d; run the Signet version that migrated it (or a newer one)",
			v, postgres.SchemaVersion))
	case v < postgres.SchemaVersion:
		notes = append(notes, fmt.Sprintf("storage: the database has schema version %d; signet serve migrates it to %d", v, postgres.SchemaVersion))
	default:
		notes = append(notes, fmt.Sprintf("storage: the database answers, schema version %d", v))
	}
	return problems, notes
}
