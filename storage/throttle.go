package storage

import (
	"context"
	"time"
)

// Throttles keeps the sign-in limits' failure counters where every replica of
// a store sees them: a lock counted by one holds on all. Only web interprets
// a counter (its keys, free failures and back-off); the store keeps it
// atomically and forgets it at ExpiresAt.
type Throttles interface {
	// GetThrottle returns the counter under key, or the zero Throttle. One past
	// its ExpiresAt may be returned until DeleteExpired has run: callers
	// treat it as zero.
	GetThrottle(ctx context.Context, key string) (Throttle, error)
	// UpdateThrottle changes key's counter in one transaction: fn gets the
	// current one (zero when none) and changes it in place. A counter left
	// with no failures and no lock is deleted. It returns what it stored.
	UpdateThrottle(ctx context.Context, key string, fn func(*Throttle)) (Throttle, error)
}

// Throttle counts failures under one key.
type Throttle struct {
	Failures    int       `json:",omitempty"`
	Last        time.Time `json:",omitzero"`
	LockedUntil time.Time `json:",omitzero"`
	// ExpiresAt is when the counter is forgotten (DeleteExpired removes it).
	ExpiresAt time.Time `json:",omitzero"`
	// Pending counts checks reserved and not yet settled; a replica that died
	// holding some gives them back at PendingUntil.
	Pending      int       `json:",omitempty"`
	PendingUntil time.Time `json:",omitzero"`
}

// Zero reports whether the counter holds nothing.
func (t Throttle) Zero() bool { return t.Failures == 0 && t.LockedUntil.IsZero() && t.Pending == 0 }
