// Package postgres is Signet's scale-out backend: storage.Store on PostgreSQL through
// pgx (pgxpool), so that several `signet serve` replicas share one database and act
// as one issuer.
//
// It owns the schema and its versioned migrations (embedded numbered .sql files,
// applied by Open under an advisory lock so that replicas starting together
// migrate once, and a database newer than this binary refused), the mapping of the
// contract onto SQL, and the translation of PostgreSQL errors into the storage
// sentinels (a unique violation is storage.ErrAlreadyExists). Records are JSON in
// one column per table beside the columns that look-ups, locks and the janitor
// need.
//
// Every transition the contract calls atomic runs in one transaction that holds a
// row lock on what it changes, so that it stays atomic across processes: a code is
// redeemed under its auth request's row lock, a refresh token rotated under its
// family's, the key set replaced under a table lock; nothing is read and then
// written without one. DeleteExpired deletes in bounded batches and skips rows
// another transaction holds, so that the janitors of several replicas never wait
// on each other or on the token endpoint.
//
// It decides nothing about the protocol and keeps no clock: callers pass the time.
// It never logs, and never puts a connection string in an error (it may carry a
// password).
package postgres
