// Package storagetest is the conformance suite for storage.Store: every backend's
// test calls Run with a constructor for an empty store, and passes only when it
// behaves as the doc comments of package storage say.
//
// It owns the executable form of the contract: the sentinel errors, the atomic
// transitions (single-use codes, refresh-token rotation with reuse detection and a
// grace window, the key set's compare-and-swap), concurrency (many callers racing
// for one code or one refresh token) and the janitor's DeleteExpired. Time is
// passed explicitly; nothing sleeps.
//
// It does not own backend specifics (file locks, file modes, backups, connection
// handling): those are tested beside each backend. It holds no fakes: it runs
// against the real backend it is given.
package storagetest
