package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
	bolt "go.etcd.io/bbolt"
)

func openInternal(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "signet.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (s *Store) pendingWrites() int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.pending)
}

// waitPending waits until n writes wait for the commit in flight.
func waitPending(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.pendingWrites() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes pending, want %d", s.pendingWrites(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitCommitting waits until the first write holds the commit: the
// committing goroutine runs and no other write waits yet.
func waitCommitting(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.pendingWrites() != 0 || !s.groupRunning() {
		if time.Now().After(deadline) {
			t.Fatalf("the first write never held the commit: running %v, %d writes pending", s.groupRunning(), s.pendingWrites())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGroupCommit: writes that arrive while a commit is in flight share the
// next transaction; a failing write gets its own error and leaves nothing,
// while the others of its group commit; a panicking write panics in its own
// caller and the process goes on.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	s := openInternal(t)
	ctx := context.Background()
	bucket := []byte("group-test")
	if err := s.db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}

	release := make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- s.batch(ctx, func(tx *bolt.Tx) error {
			<-release // hold the commit so that the others queue behind it
			return tx.Bucket(bucket).Put([]byte("first"), []byte("1"))
		})
	}()
	waitCommitting(t, s)

	const n = 12
	var (
		mu       sync.Mutex
		txs      = map[*bolt.Tx]int{}
		errs     = make([]error, n)
		panicked = make([]any, n)
		wg       sync.WaitGroup
	)
	errRefused := errors.New("refused")
	for i := range n {
		wg.Go(func() {
			defer func() { panicked[i] = recover() }()
			errs[i] = s.batch(ctx, func(tx *bolt.Tx) error {
				mu.Lock()
				txs[tx]++
				mu.Unlock()
				key := []byte(fmt.Sprint("k", i))
				if err := tx.Bucket(bucket).Put(key, []byte("v")); err != nil {
					return err
				}
				switch i {
				case 3:
					return errRefused // after a write: the write must not stay
				case 7:
					panic("write bug")
				}
				return nil
			})
		})
	}
	waitPending(t, s, n)
	close(release)
	wg.Wait()
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}

	for i := range n {
		switch i {
		case 3:
			if !errors.Is(errs[i], errRefused) {
				t.Errorf("write %d: error %v, want its own %v", i, errs[i], errRefused)
			}
		case 7:
			if panicked[i] != "write bug" {
				t.Errorf("write %d: recovered %v, want its panic in its own goroutine", i, panicked[i])
			}
		default:
			if errs[i] != nil || panicked[i] != nil {
				t.Errorf("write %d: %v / %v", i, errs[i], panicked[i])
			}
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for i := range n {
			got := b.Get([]byte(fmt.Sprint("k", i))) != nil
			if want := i != 3 && i != 7; got != want {
				t.Errorf("key k%d stored = %v, want %v", i, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The twelve queued writes ran in few transactions: the group (run again
	// without each failure) and the two failures alone.
	shared := 0
	for _, calls := range txs {
		shared = max(shared, calls)
	}
	if shared < n-2 {
		t.Errorf("largest group ran %d writes in one transaction, want at least %d (transactions: %d)", shared, n-2, len(txs))
	}
	if s.groupRunningEventually(t) {
		t.Errorf("the committing goroutine did not stop once idle")
	}
}

func (s *Store) groupRunning() bool {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return s.group.running
}

func (s *Store) groupRunningEventually(t *testing.T) bool {
	deadline := time.Now().Add(5 * time.Second)
	for s.groupRunning() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return s.groupRunning()
}

// TestGroupCommitAloneIsImmediate: a write on an idle store commits at once,
// with its own error, in one run.
func TestGroupCommitAloneIsImmediate(t *testing.T) {
	t.Parallel()
	s := openInternal(t)
	runs := 0
	errAlone := errors.New("alone")
	err := s.batch(context.Background(), func(tx *bolt.Tx) error { runs++; return errAlone })
	if !errors.Is(err, errAlone) || runs != 1 {
		t.Fatalf("error %v after %d runs, want %v after 1", err, runs, errAlone)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.batch(ctx, func(*bolt.Tx) error { t.Error("ran under a cancelled context"); return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

// TestGroupCommitRefusal: a write that refuses before writing anything gets
// its own error while the others of its group commit in the same transaction,
// run once (a refusal never makes the group run again); the statistics count
// the shared commit.
func TestGroupCommitRefusal(t *testing.T) {
	t.Parallel()
	s := openInternal(t)
	ctx := context.Background()
	bucket := []byte("refusal-test")
	if err := s.db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- s.batch(ctx, func(tx *bolt.Tx) error {
			<-release
			return nil
		})
	}()
	waitCommitting(t, s)
	before := s.GroupCommitStats()
	const n = 6
	var runs [n]int
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.batch(ctx, func(tx *bolt.Tx) error {
				runs[i]++
				if i%2 == 1 {
					return refuse(fmt.Errorf("write %d: %w", i, errRefusedForTest))
				}
				return tx.Bucket(bucket).Put([]byte(fmt.Sprint(i)), []byte("x"))
			})
		})
	}
	waitPending(t, s, n)
	close(release)
	wg.Wait()
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if i%2 == 1 {
			var r refusal
			if !errors.Is(err, errRefusedForTest) || errors.As(err, &r) {
				t.Errorf("write %d: %v, want its own refusal's error, unwrapped", i, err)
			}
		} else if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
		if runs[i] != 1 {
			t.Errorf("write %d ran %d times, want once", i, runs[i])
		}
	}
	s.db.View(func(tx *bolt.Tx) error {
		if got := tx.Bucket(bucket).Stats().KeyN; got != n/2 {
			t.Errorf("%d keys written, want %d", got, n/2)
		}
		return nil
	})
	after := s.GroupCommitStats()
	// The held write's commit, then one for the n that queued behind it.
	if after.Commits-before.Commits != 2 || after.Writes-before.Writes != n+1 {
		t.Errorf("stats: %d commits carrying %d writes, want 2 carrying %d", after.Commits-before.Commits, after.Writes-before.Writes, n+1)
	}
}

var errRefusedForTest = errors.New("refused")

// TestGroupCommitDeferred: writes whose callers said they can wait
// (storage.CommitDue) are held back until one of them comes due, then commit
// together in one transaction; a write that cannot wait takes the held ones
// with it at once; a held write commits by deferLimit even if nobody asks, and
// when its context ends.
func TestGroupCommitDeferred(t *testing.T) {
	t.Parallel()
	s := openInternal(t)
	// Long enough that no held write reaches it on a loaded machine, until
	// the part of the test about it.
	s.group.limit = time.Hour
	bucket := []byte("deferred-test")
	if err := s.db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}
	put := func(ctx context.Context, key string) chan error {
		done := make(chan error, 1)
		go func() {
			done <- s.batch(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), []byte("1")) })
		}()
		return done
	}
	notYet := func(name string, done chan error) {
		t.Helper()
		select {
		case err := <-done:
			t.Fatalf("%s committed (%v) before any of the held writes came due", name, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	wait := func(name string, done chan error) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s never committed", name)
		}
	}

	// Three held writes; the second comes due: one commit carries all three.
	before := s.GroupCommitStats()
	dues := []chan struct{}{make(chan struct{}), make(chan struct{}), make(chan struct{})}
	var held []chan error
	for i, due := range dues {
		held = append(held, put(storage.CommitDue(context.Background(), due), fmt.Sprint("held-", i)))
	}
	waitPending(t, s, 3)
	notYet("a held write", held[0])
	close(dues[1])
	for i, done := range held {
		wait(fmt.Sprint("held write ", i), done)
	}
	after := s.GroupCommitStats()
	if c, w := after.Commits-before.Commits, after.Writes-before.Writes; c != 1 || w != 3 {
		t.Fatalf("%d commits carried %d writes, want 1 commit of the 3 held writes", c, w)
	}
	close(dues[0])
	close(dues[2])

	// A write that cannot wait commits at once, with the held one.
	before = s.GroupCommitStats()
	heldDone := put(storage.CommitDue(context.Background(), make(chan struct{})), "held-again")
	waitPending(t, s, 1)
	wait("the write that cannot wait", put(context.Background(), "now"))
	wait("the held write", heldDone)
	if c := s.GroupCommitStats().Commits - before.Commits; c != 1 {
		t.Fatalf("%d commits, want the held write in the commit of the one that cannot wait", c)
	}

	// Its context ends: it commits (and the caller learns of the write's fate).
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := put(storage.CommitDue(ctx, make(chan struct{})), "cancelled")
	waitPending(t, s, 1)
	cancel()
	wait("a held write whose context ended", cancelled)

	// Nobody asks: the held write commits by the limit.
	if s.groupRunningEventually(t) {
		t.Fatal("the committer never stopped")
	}
	s.group.mu.Lock()
	s.group.limit = 200 * time.Millisecond
	s.group.mu.Unlock()
	start := time.Now()
	wait("a held write nobody asks for", put(storage.CommitDue(context.Background(), make(chan struct{})), "late"))
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Fatalf("a held write nobody asked for committed after %v, before the limit of 200ms", waited)
	}

	if err := s.db.View(func(tx *bolt.Tx) error {
		for _, k := range []string{"held-0", "held-1", "held-2", "held-again", "now", "late", "cancelled"} {
			if tx.Bucket(bucket).Get([]byte(k)) == nil {
				return fmt.Errorf("%s is not stored", k)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
