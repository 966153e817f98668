// Package admin is Signet's management service and its socket API: adding and
// disabling people, groups, registering relying parties and APIs, and the
// signing-key commands.
//
// Service does every operation on a storage.Store; New makes it complete from
// a Config that main fills (the server with its keys and the account.Ender
// it shares with the pages, the CLI with the store it opened). Each operation is also a value in the table
// of ops.go, an *Op with its name on the socket, and Op.Call runs it on a
// Manager: the Service itself, or a Client of a running server. bbolt holds an
// exclusive lock on the database, so while `signet serve` runs, the CLI goes
// through the server: NewHandler serves every operation of the table as
// POST /v1/<name> with JSON in and out, ListenAndServe serves that on a unix
// socket, and Dial connects. A new operation is a Service method and one line
// of the table; neither the handler nor the Client has a line per operation.
//
// The socket is the only protection of the API: it has mode 0600, is created in a
// private directory before it gets its final name, and the data directory that holds
// it is expected to be 0700 and owned by the user running Signet. Anyone who can
// connect can manage every account. Request bodies are bounded (64 KiB, a user
// import 64 MiB) and must be one JSON value without unknown fields.
//
// Errors that a person can act on are *Error values with a one-line message; they
// unwrap to ErrInvalid or to the storage sentinels (storage.ErrNotFound,
// storage.ErrAlreadyExists, storage.ErrConflict), on both sides of the socket.
// Passwords go in and are hashed; they are never logged, returned or put in an error,
// and neither are password hashes (except in an export that asks for them) or client
// secret hashes. A new client's secret is returned once, by AddClient, and only its
// SHA-256 is stored.
//
// The package owns no protocol logic and no storage format: it ends sessions
// and grants through web/account's Ender (which queues the back-channel
// logout notices), and it does not import provider or the web pages.
package admin
