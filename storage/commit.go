package storage

import "context"

type commitDueKey struct{}

// CommitDue tells the store that the caller of a write made with the returned
// context will not use the write's result before due is closed (or ctx ends):
// the token endpoint signs its answer while the write commits, and when the
// signatures queue for the CPU, its write need not be durable before they are
// done. A backend that groups concurrent writes into one commit (bbolt's
// group commit) may hold such a write back until then, so that one commit, and
// one pair of syncs, carries the writes of every answer being signed instead of
// one or two. The write is still durable before the call returns; a backend
// that does not group ignores it.
func CommitDue(ctx context.Context, due <-chan struct{}) context.Context {
	return context.WithValue(ctx, commitDueKey{}, due)
}

// CommitDueOf returns the channel CommitDue put in ctx, or nil.
func CommitDueOf(ctx context.Context) <-chan struct{} {
	due, _ := ctx.Value(commitDueKey{}).(<-chan struct{})
	return due
}
