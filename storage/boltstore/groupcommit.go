package boltstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signet-idp/signet/storage"
	bolt "go.etcd.io/bbolt"
)

// groupCommit shares one write transaction, and so one pair of fsyncs, among
// the writes that arrive while a commit is in flight. bbolt's own DB.Batch does
// the same but waits MaxBatchDelay before the first commit; this starts at once
// when the store is idle, so a lone write pays nothing, and only writes that
// would have queued behind the lock anyway are grouped.
//
// A write whose caller passed storage.CommitDue may wait for more: the
// committer does not start a commit while every pending write is such a write
// whose due has not come (its answer still being signed), up to deferLimit. At
// the signing limit that lets one commit carry the writes of every answer in
// the signing queue: with RS256 at 32 concurrent, groups of 3 writes on average
// (most of them alone) before, and a pair of syncs per answer or two.
type groupCommit struct {
	mu      sync.Mutex
	pending []groupCall
	running bool
	// due counts the pending calls whose callers wait for them now: those
	// without a CommitDue, and those whose due has come.
	due int
	// gen counts the groups taken; a call remembers the one it joined, so
	// that its due arriving after its group was taken is not counted.
	gen uint64
	// kick wakes the committer waiting for a due call (buffered: one
	// wake-up is enough).
	kick chan struct{}
	// limit replaces deferLimit when set (tests).
	limit time.Duration

	commits, writes atomic.Uint64
	sizes           [len(GroupCommitStats{}.Sizes)]atomic.Uint64
}

// GroupCommitStats counts the shared commits: Commits transactions committed
// Writes calls; Sizes[i] counts the commits that carried 2^i to 2^(i+1)-1
// calls (the last bucket: 128 or more).
type GroupCommitStats struct {
	Commits, Writes uint64
	Sizes           [8]uint64
}

// GroupCommitStats returns the counts since the store was opened, for the
// profiling runs of BENCHMARKS.md.
func (s *Store) GroupCommitStats() GroupCommitStats {
	var st GroupCommitStats
	st.Commits, st.Writes = s.group.commits.Load(), s.group.writes.Load()
	for i := range st.Sizes {
		st.Sizes[i] = s.group.sizes[i].Load()
	}
	return st
}

func (g *groupCommit) count(n int) {
	g.commits.Add(1)
	g.writes.Add(uint64(n))
	g.sizes[min(bits.Len(uint(n))-1, len(g.sizes)-1)].Add(1)
}

// refusal marks an error a batch function returned before it wrote anything
// (an unknown code, an expired or revoked refresh token): the group's
// transaction goes on without it, with nothing to roll back, so that one
// request's refusal never makes its neighbours' writes run again.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }
func (r refusal) Unwrap() error { return r.err }

// refuse marks err as returned before any write.
func refuse(err error) error { return refusal{err} }

type groupCall struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// deferLimit bounds how long the committer holds back writes whose callers
// said they can wait (storage.CommitDue): they commit by then even if no
// caller asked.
const deferLimit = 20 * time.Millisecond

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
	due := storage.CommitDueOf(ctx)
	c := groupCall{fn: fn, done: make(chan error, 1)}
	g := &s.group
	g.mu.Lock()
	if g.kick == nil {
		g.kick = make(chan struct{}, 1)
	}
	g.pending = append(g.pending, c)
	gen := g.gen
	if due == nil {
		g.due++
	}
	start := !g.running
	g.running = true
	g.mu.Unlock()
	switch {
	case start:
		go s.commitGroups()
	case due == nil:
		g.wake()
	}
	var err error
	if due == nil {
		err = <-c.done
	} else {
		select {
		case err = <-c.done:
		case <-due:
			g.demand(gen)
			err = <-c.done
		case <-ctx.Done():
			g.demand(gen)
			err = <-c.done
		}
	}
	if errors.Is(err, errRunAlone) {
		err = s.dbUpdate(fn)
	}
	return err
}

// wake tells the committer that a pending call is due.
func (g *groupCommit) wake() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// demand marks a deferred call of group gen as due, unless a commit has
// taken that group already.
func (g *groupCommit) demand(gen uint64) {
	g.mu.Lock()
	if gen == g.gen {
		g.due++
	}
	g.mu.Unlock()
	g.wake()
}

// commitGroups commits the pending calls, group after group, until none is
// left; while every pending call may wait (storage.CommitDue) it waits for one
// to come due, at most deferLimit.
func (s *Store) commitGroups() {
	g := &s.group
	var timer *time.Timer
	waiting, expired := false, false
	for {
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		if g.due == 0 && !expired {
			limit := cmp.Or(g.limit, deferLimit)
			g.mu.Unlock()
			if !waiting {
				waiting = true
				if timer == nil {
					timer = time.NewTimer(limit)
				} else {
					timer.Reset(limit)
				}
			}
			select {
			case <-g.kick:
			case <-timer.C:
				expired = true
			}
			continue
		}
		calls := g.pending
		g.pending, g.due = nil, 0
		g.gen++
		g.mu.Unlock()
		waiting, expired = false, false
		s.commitGroup(calls)
	}
}

// commitGroup runs calls in one transaction. A call that refuses (refuse)
// gets its error and the others go on; a call that fails otherwise is taken
// out and told to run alone, and the rest run again without it.
func (s *Store) commitGroup(calls []groupCall) {
	refused := make([]error, len(calls))
	for len(calls) > 0 {
		failed, panicked := -1, false
		err := s.dbUpdate(func(tx *bolt.Tx) error {
			for i, c := range calls {
				err, p := callSafely(c.fn, tx)
				var r refusal
				switch {
				case err == nil:
					refused[i] = nil
				case !p && errors.As(err, &r):
					refused[i] = r.err
				default:
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
			refused = refused[:len(calls)]
			continue
		}
		s.group.count(len(calls))
		for i, c := range calls {
			if refused[i] != nil {
				c.done <- refused[i]
				continue
			}
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
