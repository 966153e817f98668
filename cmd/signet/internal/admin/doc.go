// Package admin is Signet's management service: adding and disabling people,
// registering relying parties, listing signing keys.
//
// One interface, Manager, has two implementations that behave alike, errors included:
//
//   - Service works directly on a storage.Store. The CLI uses it when no server runs
//     and it can open the database itself.
//   - Client talks to a running server over its admin socket. bbolt holds an
//     exclusive lock on the database, so while `signet serve` runs, the CLI goes
//     through the server: NewHandler exposes a Manager (the server's Service) as a
//     small JSON API, ListenAndServe serves it on a unix socket, and Dial connects.
//
// The socket is the only protection of the API: it has mode 0600, is created in a
// private directory before it gets its final name, and the data directory that holds
// it is expected to be 0700 and owned by the user running Signet. Anyone who can
// connect can manage every account.
//
// Errors that a person can act on are *Error values with a one-line message; they
// unwrap to ErrInvalid or to the storage sentinels (storage.ErrNotFound,
// storage.ErrAlreadyExists, storage.ErrConflict), on both sides of the socket.
// Passwords go in and are hashed; they are never logged, returned or put in an error,
// and neither are password hashes or client secret hashes. A new client's secret is
// returned once, by AddClient, and only its SHA-256 is stored.
//
// The package owns no protocol logic and no storage format; it does not import
// provider or the other web pages.
package admin
