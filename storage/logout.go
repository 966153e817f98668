package storage

import (
	"context"
	"time"
)

// LogoutDelivery is a pending back-channel logout notice to one client. It is
// stored so that a restart continues what was pending; the logout token itself is
// signed at each attempt, so it is always fresh and signed by a published key.
type LogoutDelivery struct {
	ID       string
	ClientID string
	// SID and Subject identify the ended session.
	SID         string
	Subject     string
	CreatedAt   time.Time
	Attempts    int
	NextAttempt time.Time
	// ExpiresAt is when delivery is abandoned.
	ExpiresAt time.Time
	LastError string
}

// Expired reports whether delivery is abandoned at now.
func (d *LogoutDelivery) Expired(now time.Time) bool { return !now.Before(d.ExpiresAt) }

// Logouts stores which clients took part in a browser session and the back-channel
// logout notices still to deliver.
type Logouts interface {
	// AddSessionClient records that clientID received tokens in the session with
	// public id sid; the record lives until expiresAt (the session's end).
	AddSessionClient(ctx context.Context, sid, clientID string, expiresAt time.Time) error
	// ListSessionClients returns the clients recorded for sid, ordered by id.
	ListSessionClients(ctx context.Context, sid string) ([]string, error)
	// EnqueueLogouts stores deliveries (ids must be new) in one transaction.
	EnqueueLogouts(ctx context.Context, ds []*LogoutDelivery) error
	// DueLogouts returns at most limit deliveries whose NextAttempt is not after
	// now, the earliest first.
	DueLogouts(ctx context.Context, now time.Time, limit int) ([]*LogoutDelivery, error)
	// UpdateLogout loads, calls fn and stores in one transaction; fn must not
	// change ID.
	UpdateLogout(ctx context.Context, id string, fn func(*LogoutDelivery) error) error
	DeleteLogout(ctx context.Context, id string) error
}
