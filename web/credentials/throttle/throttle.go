// Package throttle owns the in-memory brute-force counters of sign-in: failures
// per key (an account, a client address) with a lock that doubles after the free
// failures, in bounded memory, and the reservation that keeps checks running at
// once from trying more than a key may. The sign-in pages count with it, and the
// admin service clears an account's lock in the running server through it, so
// neither calls the other.
//
// It does not store anything (the pages also record failures in storage, so that
// replicas share them) nor decide what is a failure.
package throttle

import (
	"strings"
	"sync"
	"time"
)

// Throttle counts failures per key, in bounded memory. After free failures a key
// is locked for base, doubling with every further failure up to max.
type Throttle struct {
	mu      sync.Mutex
	entries map[string]*record
	free    int
	base    time.Duration
	max     time.Duration
	cap     int
}

type record struct {
	failures int
	// pending counts the checks reserved and not yet settled.
	pending int
	until   time.Time
	last    time.Time
}

// New returns a Throttle that locks a key after free failures, for base at
// first, doubling up to maxDelay, and holds at most capacity keys.
func New(free int, base, maxDelay time.Duration, capacity int) *Throttle {
	return &Throttle{entries: map[string]*record{}, free: free, base: base, max: maxDelay, cap: capacity}
}

// Max is the longest lock.
func (t *Throttle) Max() time.Duration { return t.max }

// Quiet is how long after its last failure a locked key starts over.
func (t *Throttle) Quiet() time.Duration { return t.max + t.base }

// Locked reports whether key is locked at now, and until when.
func (t *Throttle) Locked(key string, now time.Time) (bool, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil || !now.Before(e.until) {
		return false, time.Time{}
	}
	return true, e.until
}

// Fail records a failure and reports whether key is now locked.
func (t *Throttle) Fail(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed(t.entry(key, now), now)
}

// entry returns key's entry, made if need be; a long quiet after a lock starts
// it over. t.mu is held.
func (t *Throttle) entry(key string, now time.Time) *record {
	e := t.entries[key]
	if e == nil {
		if len(t.entries) >= t.cap {
			t.evict(now)
		}
		e = &record{}
		t.entries[key] = e
	} else if !e.until.IsZero() && now.Sub(e.last) > t.max+t.base {
		// Long quiet after a lock: start over.
		e.failures, e.until = 0, time.Time{}
	}
	return e
}

// failed counts a failure on e and reports whether it is now locked. t.mu is held.
func (t *Throttle) failed(e *record, now time.Time) bool {
	e.failures++
	e.last = now
	if d := t.LockFor(e.failures); d > 0 {
		e.until = now.Add(d)
		return true
	}
	return false
}

// Outcomes of a reserved check (Settle).
const (
	CheckRefunded = iota // the check did not run (busy, cancelled): the try is given back
	CheckFailed
	CheckPassed
)

// Answers of Reserve.
const (
	Reserved   = iota // the check may run; Settle must follow
	LockedOut         // key is locked
	TriesInUse        // key's remaining tries are all being checked right now
)

// Reserve charges a check of key before it runs, so that checks running at once
// cannot together try more than key may: its free failures before the first lock,
// one after each lock.
func (t *Throttle) Reserve(key string, now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[key]; e != nil && now.Before(e.until) {
		return LockedOut
	}
	e := t.entry(key, now)
	tries := 1
	if e.failures < t.free {
		tries = t.free - e.failures
	}
	if e.pending >= tries {
		return TriesInUse
	}
	e.pending++
	e.last = now
	return Reserved
}

// Settle ends a check reserved for key: a failure counts (it reports whether key
// is now locked), a pass forgets the failures, a refund gives the try back.
func (t *Throttle) Settle(key string, now time.Time, outcome int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Entries with checks in flight are never evicted or dropped, so e is the
	// one reserve charged.
	e := t.entry(key, now)
	e.pending = max(e.pending-1, 0)
	locked := false
	switch outcome {
	case CheckFailed:
		locked = t.failed(e, now)
	case CheckPassed:
		e.failures, e.until = 0, time.Time{}
	}
	if e.failures == 0 && e.pending == 0 {
		delete(t.entries, key)
	}
	return locked
}

// LastSeen is when key last had a failure or a check counted (zero if none).
func (t *Throttle) LastSeen(key string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[key]; e != nil {
		return e.last
	}
	return time.Time{}
}

// Forget clears key's failures and lock (after an admin unlock) and reports
// whether it had any.
func (t *Throttle) Forget(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil {
		return false
	}
	had := e.failures > 0
	e.failures, e.until = 0, time.Time{}
	if e.pending == 0 {
		delete(t.entries, key)
	}
	return had
}

// evict makes room: entries idle long enough to have no lock left go first; if
// that is not enough (a flood of addresses), an eighth of the map goes. t.mu is
// held.
func (t *Throttle) evict(now time.Time) {
	// Entries with checks in flight stay: their settle must find them.
	for k, e := range t.entries {
		if e.pending == 0 && now.After(e.until) && now.Sub(e.last) > t.max {
			delete(t.entries, k)
		}
	}
	if len(t.entries) < t.cap {
		return
	}
	n := len(t.entries) / 8
	for k, e := range t.entries {
		if n <= 0 {
			break
		}
		if e.pending == 0 {
			delete(t.entries, k)
			n--
		}
	}
}

// LockFor is how long count failures lock a key under t's rule (Free
// failures, then Base doubling up to Max); zero while some are still free.
func (t *Throttle) LockFor(count int) time.Duration {
	over := count - t.free
	if over < 0 {
		return 0
	}
	d := t.base << min(over, 30)
	if d <= 0 || d > t.max {
		d = t.max
	}
	return d
}

// maxUsernameLen bounds a key made of a username (the sign-in form's bound).
const maxUsernameLen = 256

// AccountKey normalises a username for throttling; unknown usernames are
// throttled like known ones, so locking reveals nothing about existence.
func AccountKey(username string) string {
	if len(username) > maxUsernameLen {
		username = username[:maxUsernameLen]
	}
	return strings.ToLower(strings.TrimSpace(username))
}
