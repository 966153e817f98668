package storage

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Dump is every record of a store that outlives a sign-in in progress, for
// moving a deployment from one backend to another (signet storage import).
// Pending authorization and device requests and issued codes are left out:
// they live minutes, and a move is made with the servers stopped. Used client
// assertion ids live minutes too, but are kept: an assertion used just before
// the move must not be accepted again after it.
type Dump struct {
	Clients        []*Client
	Users          []*User
	Groups         []*Group
	APIs           []*API
	Grants         []*Grant
	Keys           []*SigningKey // sealed, as stored
	Sessions       []*Session
	SessionClients []SessionClient
	Families       []*RefreshFamily
	RefreshTokens  []*RefreshToken
	AccessTokens   []*AccessToken // opaque access tokens' records
	RevokedJWTs    []RevokedJWT
	Logouts        []*LogoutDelivery
	AssertionJTIs  []UsedAssertion
}

// SessionClient records that a client received tokens in a session (the
// back-channel logout fan-out).
type SessionClient struct {
	SID       string
	ClientID  string
	ExpiresAt time.Time
}

// RevokedJWT is a revoked JWT access token's id, kept until the token expires.
type RevokedJWT struct {
	JTI       string
	ExpiresAt time.Time
}

// UsedAssertion is a client assertion's id (private_key_jwt), refused again
// until the assertion expires.
type UsedAssertion struct {
	ClientID  string
	JTI       string
	ExpiresAt time.Time
}

// DropExpiredAssertions removes the used assertion ids whose assertion has
// expired by now: an expired assertion is refused for its exp anyway.
func (d *Dump) DropExpiredAssertions(now time.Time) {
	d.AssertionJTIs = slices.DeleteFunc(d.AssertionJTIs, func(a UsedAssertion) bool { return !a.ExpiresAt.After(now) })
}

// Counts is the number of records of each kind, in a fixed order, for
// reports and for checking a copy.
func (d *Dump) Counts() []KindCount {
	return []KindCount{
		{"clients", len(d.Clients)},
		{"people", len(d.Users)},
		{"groups", len(d.Groups)},
		{"APIs", len(d.APIs)},
		{"grants", len(d.Grants)},
		{"signing keys", len(d.Keys)},
		{"sessions", len(d.Sessions)},
		{"session clients", len(d.SessionClients)},
		{"refresh families", len(d.Families)},
		{"refresh tokens", len(d.RefreshTokens)},
		{"access tokens", len(d.AccessTokens)},
		{"revoked JWT ids", len(d.RevokedJWTs)},
		{"pending logout notices", len(d.Logouts)},
		{"used client assertion ids", len(d.AssertionJTIs)},
	}
}

// KindCount is how many records of one kind a Dump holds.
type KindCount struct {
	Kind  string
	Count int
}

// Exporter is a store that can list every durable record at one instant.
type Exporter interface {
	Export(ctx context.Context) (*Dump, error)
}

// Importer is a store that can take a whole Dump in one transaction: all of it
// or nothing. It refuses with ErrNotEmpty when it holds any durable record.
// Before it commits it reads the copy back in the same transaction and calls
// verify (when not nil) with it; an error from either rolls everything back.
type Importer interface {
	Import(ctx context.Context, d *Dump, verify func(*Dump) error) error
}

// ErrNotEmpty refuses an import into a store that already holds records.
var ErrNotEmpty = errors.New("the target store is not empty")
