package throttle

import (
	"fmt"
	"testing"
	"time"
)

func TestThrottleBackoffAndClear(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := New(3, 30*time.Second, 5*time.Minute, 100)
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
	if !th.Forget("alice") {
		t.Fatal("forget of a known key reported false")
	}
	if locked, _ := th.Locked("alice", now); locked {
		t.Fatal("locked after forget")
	}
}

// TestThrottleBoundedMemory floods the throttle with distinct keys (addresses):
// its size never passes the cap.
func TestThrottleBoundedMemory(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := New(100, time.Second, time.Minute, 1000)
	for i := range 50_000 {
		th.Fail(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), now)
		if len(th.entries) > 1000 {
			t.Fatalf("%d entries after %d keys, cap 1000", len(th.entries), i+1)
		}
	}
}

// TestThrottleReserve: checks are charged before they run, so checks in flight
// cannot together exceed the free failures (or, after a lock, one try); a pass
// forgets the failures and a check that did not run is refunded.
func TestThrottleReserve(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := New(5, 30*time.Second, 5*time.Minute, 100)
	var last int
	reserved := func(at time.Time) int {
		n := 0
		for range 40 {
			if last = th.Reserve("alice", at); last == Reserved {
				n++
			}
		}
		return n
	}
	if got := reserved(now); got != 5 || last != TriesInUse {
		t.Fatalf("%d checks reserved at once, want 5 (then %d, want TriesInUse)", got, last)
	}
	for i := range 5 {
		if locked := th.Settle("alice", now, CheckFailed); locked != (i == 4) {
			t.Fatalf("failure %d: locked = %v", i+1, locked)
		}
	}
	if got := reserved(now.Add(29 * time.Second)); got != 0 || last != LockedOut {
		t.Fatalf("%d checks reserved while locked (answer %d)", got, last)
	}
	now = now.Add(30 * time.Second)
	if got := reserved(now); got != 1 {
		t.Fatalf("%d checks reserved after the lock cleared, want 1", got)
	}
	th.Settle("alice", now, CheckRefunded) // it did not run: the try is back
	if got := reserved(now); got != 1 {
		t.Fatalf("%d checks reserved after a refund, want 1", got)
	}
	th.Settle("alice", now, CheckPassed)
	if len(th.entries) != 0 {
		t.Fatalf("a pass left %d entries", len(th.entries))
	}
	if got := reserved(now); got != 5 {
		t.Fatalf("%d checks reserved after a pass, want 5", got)
	}
	for range 5 {
		th.Settle("alice", now, CheckRefunded)
	}
	if len(th.entries) != 0 {
		t.Fatalf("refunds left %d entries", len(th.entries))
	}
}
