package storage

import (
	"context"
	"time"
)

// Grant is what a person approved for one client: the scopes granted and those
// declined (so that an unchanged request does not ask again).
type Grant struct {
	UserID    string
	ClientID  string
	Scopes    []string
	Declined  []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Grants stores remembered consent, one grant per (person, client).
type Grants interface {
	// PutGrant creates or replaces the grant of (g.UserID, g.ClientID).
	PutGrant(ctx context.Context, g *Grant) error
	// UpdateGrant stores what fn makes of the current grant of (userID,
	// clientID) (nil when there is none), atomically: two approvals at once
	// (two tabs) both count. An error from fn stores nothing and is returned.
	UpdateGrant(ctx context.Context, userID, clientID string, fn func(cur *Grant) (*Grant, error)) (*Grant, error)
	GetGrant(ctx context.Context, userID, clientID string) (*Grant, error)
	// ListUserGrants returns the person's grants ordered by client id.
	ListUserGrants(ctx context.Context, userID string) ([]*Grant, error)
	DeleteGrant(ctx context.Context, userID, clientID string) error
}
