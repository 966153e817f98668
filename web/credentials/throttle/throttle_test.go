package throttle

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage/boltstore"
)

func TestMemoryBackoff(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := NewMemory(Limits{Free: 3, Base: 30 * time.Second, Max: 5 * time.Minute}, 100)
	for i := 1; i <= 2; i++ {
		if th.Fail("alice", now) {
			t.Fatalf("locked after %d failures, want after 3", i)
		}
	}
	if !th.Fail("alice", now) {
		t.Fatal("not locked after the free failures")
	}
	if locked, until := th.Locked("alice", now); !locked || until != now.Add(30*time.Second) {
		t.Fatalf("first lock: %v until %s", locked, until)
	}
	th.Fail("alice", now) // the next failure doubles the lock
	if _, until := th.Locked("alice", now); until != now.Add(time.Minute) {
		t.Fatalf("second lock until %s, want +1m", until)
	}
	for range 20 {
		th.Fail("alice", now)
	}
	if _, until := th.Locked("alice", now); until != now.Add(5*time.Minute) {
		t.Fatalf("lock is not capped: until %s", until)
	}
	// The lock clears by itself.
	if locked, _ := th.Locked("alice", now.Add(5*time.Minute)); locked {
		t.Fatal("lock did not clear after max")
	}
	if locked, _ := th.Locked("bob", now); locked {
		t.Fatal("another key is locked")
	}
}

// TestMemoryBounded floods the memory with distinct keys (addresses): its
// size never passes the cap.
func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := NewMemory(Limits{Free: 100, Base: time.Second, Max: time.Minute}, 1000)
	for i := range 50_000 {
		th.Fail(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), now)
		if len(th.entries) > 1000 {
			t.Fatalf("%d entries after %d keys, cap 1000", len(th.entries), i+1)
		}
	}
}

// TestReserve: checks are charged in the store before they run, so checks in
// flight (on any replica) cannot together exceed the free failures (or, after
// a lock, one try); a pass forgets the failures, a check that did not run is
// refunded, a reservation never settled (its replica died) lapses, and an
// unlock clears the lock but not the checks in flight.
func TestReserve(t *testing.T) {
	t.Parallel()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "signet.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	l := Limits{Free: 5, Base: 30 * time.Second, Max: 5 * time.Minute}
	key := AccountStoreKey(" Alice")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var last int
	reserve := func() int {
		t.Helper()
		n := 0
		for range 40 {
			if last, err = Reserve(ctx, store, key, l, now); err != nil {
				t.Fatal(err)
			}
			if last == Reserved {
				n++
			}
		}
		return n
	}
	settle := func(outcome int) bool {
		t.Helper()
		locked, err := Settle(ctx, store, key, l, now, outcome)
		if err != nil {
			t.Fatal(err)
		}
		return locked
	}
	if got := reserve(); got != 5 || last != TriesInUse {
		t.Fatalf("%d checks reserved at once, want 5 (then %d, want TriesInUse)", got, last)
	}
	for i := range 5 {
		if locked := settle(CheckFailed); locked != (i == 4) {
			t.Fatalf("failure %d: locked = %v", i+1, locked)
		}
	}
	if until, _ := LockedUntil(ctx, store, key, now); !until.Equal(now.Add(30 * time.Second)) {
		t.Fatalf("LockedUntil = %s, want +30s", until)
	}
	now = now.Add(29 * time.Second)
	if got := reserve(); got != 0 || last != LockedOut {
		t.Fatalf("%d checks reserved while locked (answer %d)", got, last)
	}
	now = now.Add(time.Second)
	if got := reserve(); got != 1 {
		t.Fatalf("%d checks reserved after the lock cleared, want 1", got)
	}
	settle(CheckRefunded) // it did not run: the try is back
	if got := reserve(); got != 1 {
		t.Fatalf("%d checks reserved after a refund, want 1", got)
	}
	if settle(CheckFailed); reserve() != 0 || last != LockedOut {
		t.Fatalf("a failure after the lock did not lock again (answer %d)", last)
	}
	if was, err := Unlock(ctx, store, AccountStoreKey("alice"), now); err != nil || !was {
		t.Fatalf("Unlock = %v, %v; want true", was, err)
	}
	if got := reserve(); got != 5 {
		t.Fatalf("%d checks reserved after an unlock, want 5", got)
	}
	// Nobody settles these five: they lapse.
	now = now.Add(ReservationLapse)
	if got := reserve(); got != 5 {
		t.Fatalf("%d checks reserved once unsettled reservations lapsed, want 5", got)
	}
	settle(CheckPassed)
	for range 4 {
		settle(CheckRefunded)
	}
	if c, err := store.GetThrottle(ctx, key); err != nil || !c.Zero() {
		t.Fatalf("a pass and refunds left %+v (%v)", c, err)
	}
}
