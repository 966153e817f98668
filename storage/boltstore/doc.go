// Package boltstore is Signet's embedded default backend: storage.Store on one bbolt
// file.
//
// It owns the file layout: one bucket per aggregate (clients, users, sessions, auth
// requests, access tokens, refresh families, refresh tokens, signing keys), the
// index buckets that answer the contract's secondary look-ups (username, code hash,
// a user's sessions and families, a family's members), and an expiry index ordered
// by time that lets DeleteExpired remove expired records incrementally. Records are
// JSON, but for refresh tokens, families and auth requests, the records of every
// token answer, which have a compact binary form (codec.go). Every state transition the contract calls atomic (code redemption,
// refresh-token rotation and reuse detection, family revocation, the key set's
// compare-and-swap) happens in one bbolt write transaction. Decoded clients are
// cached in memory, exactly: only this process can change them (clientcache.go);
// people, grants and sessions are taken from a memo of recent decodings when
// their stored bytes are unchanged (memo.go).
//
// It does not decide anything about the protocol: it keeps no clock and makes no
// random values; callers pass the time and decide expiry with the records' own
// Expired methods. It does not hash or encrypt: secrets arrive hashed and private
// keys arrive sealed. bbolt holds an exclusive lock on the file, so only one process
// may open it at a time; Open fails with ErrLocked, naming the file, when another
// process (normally a running `signet serve`) has it.
package boltstore
