package web

import (
	"fmt"
	"testing"
	"time"
)

func TestThrottleBackoffAndClear(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := newThrottle(3, 30*time.Second, 5*time.Minute, 100)
	for i := 1; i <= 2; i++ {
		if th.fail("alice", now) {
			t.Fatalf("locked after %d failures, want after 3", i)
		}
	}
	if !th.fail("alice", now) {
		t.Fatal("not locked after the free failures")
	}
	if locked, until := th.locked("alice", now); !locked || until != now.Add(30*time.Second) {
		t.Fatalf("first lock: %v until %s", locked, until)
	}
	th.fail("alice", now) // the next failure doubles the lock
	if _, until := th.locked("alice", now); until != now.Add(time.Minute) {
		t.Fatalf("second lock until %s, want +1m", until)
	}
	for range 20 {
		th.fail("alice", now)
	}
	if _, until := th.locked("alice", now); until != now.Add(5*time.Minute) {
		t.Fatalf("lock is not capped: until %s", until)
	}
	// The lock clears by itself.
	if locked, _ := th.locked("alice", now.Add(5*time.Minute)); locked {
		t.Fatal("lock did not clear after max")
	}
	if locked, _ := th.locked("bob", now); locked {
		t.Fatal("another key is locked")
	}
	if !th.forget("alice") {
		t.Fatal("forget of a known key reported false")
	}
	if locked, _ := th.locked("alice", now); locked {
		t.Fatal("locked after forget")
	}
}

// TestThrottleBoundedMemory floods the throttle with distinct keys (addresses):
// its size never passes the cap.
func TestThrottleBoundedMemory(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := newThrottle(100, time.Second, time.Minute, 1000)
	for i := range 50_000 {
		th.fail(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), now)
		if len(th.entries) > 1000 {
			t.Fatalf("%d entries after %d keys, cap 1000", len(th.entries), i+1)
		}
	}
}
