// Package throttle owns the brute-force limits of sign-in: the rule (free
// failures, then a lock of base doubling up to max), the counters every
// replica shares in the store (storage.Throttles: an account's wrong
// passwords with the reservations that keep checks running at once from
// trying more than the account may, a client address's failures), and a
// bounded in-memory copy of the address counts so that a replica refuses an
// address it has locked without asking the store. The sign-in pages count
// with it; the admin service unlocks and shows an account's lock through it,
// in the store, so an unlock holds on every replica at once.
//
// It does not decide what is a failure, nor hash passwords.
package throttle

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/signet-idp/signet/storage"
)

// Limits is a throttle's rule: after Free failures a key is locked for Base,
// doubling with every further failure up to Max.
type Limits struct {
	Free int
	Base time.Duration
	Max  time.Duration
}

// LockFor is how long count failures lock a key; zero while some are still
// free.
func (l Limits) LockFor(count int) time.Duration {
	over := count - l.Free
	if over < 0 {
		return 0
	}
	d := l.Base << min(over, 30)
	if d <= 0 || d > l.Max {
		d = l.Max
	}
	return d
}

// Quiet is how long after its last failure or lock a key starts over.
func (l Limits) Quiet() time.Duration { return l.Max + l.Base }

// expire sets when a stored counter is forgotten: a quiet after its last
// failure or lock, and never while a check it reserved may still settle.
func (l Limits) expire(c *storage.Throttle) {
	c.ExpiresAt = c.Last.Add(l.Quiet())
	if c.LockedUntil.After(c.Last) {
		c.ExpiresAt = c.LockedUntil.Add(l.Quiet())
	}
	if c.PendingUntil.After(c.ExpiresAt) {
		c.ExpiresAt = c.PendingUntil
	}
}

// fresh drops what a stored counter no longer holds at now: everything once
// it has expired, reservations once they have lapsed.
func fresh(c *storage.Throttle, now time.Time) {
	if !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt) {
		*c = storage.Throttle{}
	}
	if !now.Before(c.PendingUntil) {
		c.Pending, c.PendingUntil = 0, time.Time{}
	}
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
	LockedOut         // the account is locked
	TriesInUse        // the account's remaining tries are all being checked right now
)

// ReservationLapse is how long a reserved check may take before its
// reservation lapses: a replica that died while checking gives it back then.
const ReservationLapse = 70 * time.Second

// Reserve charges a check of key before it runs, in one row-locked update of
// the store every replica shares: refused while the key is locked, "tries in
// use" while every try it has left is being checked, so that checks running
// at once on any number of replicas try no more than the key may: its free
// failures before the first lock, one after each lock.
func Reserve(ctx context.Context, store storage.Throttles, key string, l Limits, now time.Time) (int, error) {
	res := Reserved
	_, err := store.UpdateThrottle(ctx, key, func(c *storage.Throttle) {
		res = Reserved
		fresh(c, now)
		if now.Before(c.LockedUntil) {
			res = LockedOut
			return
		}
		tries := 1
		if c.Failures < l.Free {
			tries = l.Free - c.Failures
		}
		if c.Pending >= tries {
			res = TriesInUse
			return
		}
		c.Pending++
		c.PendingUntil = now.Add(ReservationLapse)
		l.expire(c)
	})
	return res, err
}

// Settle ends a check Reserve charged on key: a failure counts (it reports
// whether key is now locked), a pass forgets the failures, a refund gives the
// try back.
func Settle(ctx context.Context, store storage.Throttles, key string, l Limits, now time.Time, outcome int) (bool, error) {
	locked := false
	_, err := store.UpdateThrottle(ctx, key, func(c *storage.Throttle) {
		locked = false
		fresh(c, now)
		if c.Pending > 0 {
			c.Pending--
		}
		if c.Pending == 0 {
			c.PendingUntil = time.Time{}
		}
		switch outcome {
		case CheckFailed:
			locked = count(c, l, now)
		case CheckPassed:
			c.Failures, c.LockedUntil, c.Last = 0, time.Time{}, time.Time{}
		}
		l.expire(c)
	})
	return locked, err
}

// Fail counts a failure of key in the store (no reservation: a client
// address) and reports whether key is now locked.
func Fail(ctx context.Context, store storage.Throttles, key string, l Limits, now time.Time) (bool, error) {
	locked := false
	_, err := store.UpdateThrottle(ctx, key, func(c *storage.Throttle) {
		fresh(c, now)
		locked = count(c, l, now)
		l.expire(c)
	})
	return locked, err
}

// count adds a failure to c and reports whether it locks.
func count(c *storage.Throttle, l Limits, now time.Time) bool {
	c.Failures++
	c.Last = now
	if d := l.LockFor(c.Failures); d > 0 {
		c.LockedUntil = now.Add(d)
		return true
	}
	return false
}

// LockedUntil is when key's stored lock ends; zero when none holds at now.
func LockedUntil(ctx context.Context, store storage.Throttles, key string, now time.Time) (time.Time, error) {
	c, err := store.GetThrottle(ctx, key)
	if err != nil || !now.Before(c.LockedUntil) || !now.Before(c.ExpiresAt) {
		return time.Time{}, err
	}
	return c.LockedUntil, nil
}

// Unlock clears key's stored failures and lock (on every replica at once) and
// reports whether a lock held at now. Checks in flight keep their
// reservations.
func Unlock(ctx context.Context, store storage.Throttles, key string, now time.Time) (bool, error) {
	was := false
	_, err := store.UpdateThrottle(ctx, key, func(c *storage.Throttle) {
		was = now.Before(c.LockedUntil) && now.Before(c.ExpiresAt)
		c.Failures, c.LockedUntil, c.Last = 0, time.Time{}, time.Time{}
	})
	return was, err
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

// AccountStoreKey is the store counter of the account username names.
func AccountStoreKey(username string) string { return "account:" + AccountKey(username) }

// AddressStoreKey is the store counter of a client address.
func AddressStoreKey(addr string) string { return "address:" + addr }

// Memory counts failures per key in this process, in bounded memory: a copy
// that lets a replica refuse a key it has locked without asking the store.
type Memory struct {
	Limits
	mu      sync.Mutex
	entries map[string]*record
	cap     int
}

type record struct {
	failures int
	until    time.Time
	last     time.Time
}

// NewMemory returns a Memory under l that holds at most capacity keys.
func NewMemory(l Limits, capacity int) *Memory {
	return &Memory{Limits: l, entries: map[string]*record{}, cap: capacity}
}

// Locked reports whether key is locked at now, and until when.
func (t *Memory) Locked(key string, now time.Time) (bool, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil || !now.Before(e.until) {
		return false, time.Time{}
	}
	return true, e.until
}

// Fail records a failure and reports whether key is now locked.
func (t *Memory) Fail(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil {
		if len(t.entries) >= t.cap {
			t.evict(now)
		}
		e = &record{}
		t.entries[key] = e
	} else if !e.until.IsZero() && now.Sub(e.last) > t.Quiet() {
		e.failures, e.until = 0, time.Time{} // long quiet after a lock: start over
	}
	e.failures++
	e.last = now
	if d := t.LockFor(e.failures); d > 0 {
		e.until = now.Add(d)
		return true
	}
	return false
}

// evict makes room: entries idle long enough to have no lock left go first; if
// that is not enough (a flood of addresses), an eighth of the map goes. t.mu is
// held.
func (t *Memory) evict(now time.Time) {
	for k, e := range t.entries {
		if now.After(e.until) && now.Sub(e.last) > t.Max {
			delete(t.entries, k)
		}
	}
	if len(t.entries) < t.cap {
		return
	}
	n := len(t.entries) / 8
	for k := range t.entries {
		if n <= 0 {
			break
		}
		delete(t.entries, k)
		n--
	}
}
