package boltstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// groupCommit shares one write transaction, and so one pair of fsyncs, among
// the writes that arrive while a commit is in flight. bbolt's own DB.Batch does
// the same but waits MaxBatchDelay before the first commit; this starts at once
// when the store is idle, so a lone write pays nothing, and only writes that
// would have queued behind the lock anyway are grouped.
type groupCommit struct {
	mu      sync.Mutex
	pending []groupCall
	running bool
}

type groupCall struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// errRunAlone tells a caller that its function failed inside a group and must
// run again in a transaction of its own, so that its error (and its effects)
// are its own and not those of its neighbours' writes.
var errRunAlone = errors.New("boltstore: run the write alone")

// batch runs fn in a write transaction that may be shared with concurrent
// batch calls, each applied in turn as if serialized. It is for the token
// endpoint's hot writes. fn may run more than once (a group in which another
// function fails is rolled back and run again without it), so fn must assign,
// not accumulate, every variable outside it that it reports through.
func (s *Store) batch(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := groupCall{fn: fn, done: make(chan error, 1)}
	g := &s.group
	g.mu.Lock()
	g.pending = append(g.pending, c)
	start := !g.running
	g.running = true
	g.mu.Unlock()
	if start {
		go s.commitGroups()
	}
	err := <-c.done
	if errors.Is(err, errRunAlone) {
		err = s.dbUpdate(fn)
	}
	return err
}

// commitGroups commits the pending calls, group after group, until none is left.
func (s *Store) commitGroups() {
	g := &s.group
	for {
		g.mu.Lock()
		calls := g.pending
		g.pending = nil
		if len(calls) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		s.commitGroup(calls)
	}
}

// commitGroup runs calls in one transaction. A call that fails is taken out
// and told to run alone; the rest run again without it.
func (s *Store) commitGroup(calls []groupCall) {
	for len(calls) > 0 {
		failed, panicked := -1, false
		err := s.dbUpdate(func(tx *bolt.Tx) error {
			for i, c := range calls {
				err, p := callSafely(c.fn, tx)
				if err != nil {
					failed, panicked = i, p
					return err
				}
			}
			return nil
		})
		switch {
		case failed >= 0 && len(calls) == 1 && !panicked:
			// It ran alone already: its error is its own.
			calls[0].done <- err
			return
		case failed >= 0:
			// A panic is raised again in the caller's goroutine, where the
			// request's own recovery applies.
			calls[failed].done <- errRunAlone
			calls = slices.Delete(calls, failed, failed+1)
			continue
		}
		for _, c := range calls {
			c.done <- err
		}
		return
	}
}

// callSafely runs fn, turning a panic into an error so that one request's bug
// cannot take the committing goroutine, and the process, down.
func callSafely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err, panicked = fmt.Errorf("boltstore: write panicked: %v", r), true
		}
	}()
	return fn(tx), false
}
