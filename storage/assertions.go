package storage

import (
	"context"
	"time"
)

// TokenAuthPrivateKeyJWT is Client.TokenAuthMethod for a client that
// authenticates with an assertion signed by its own key (RFC 7523, OpenID
// Connect Core section 9).
const TokenAuthPrivateKeyJWT = "private_key_jwt"

// Assertions remembers the client assertions that were used, so that each is
// accepted once (RFC 7523 section 3, item 7: a jti is not to be replayed).
type Assertions interface {
	// UseAssertionJTI records jti as used by clientID until expiresAt (the
	// assertion's exp, after which the assertion is refused for its expiry and
	// DeleteExpired may drop the record). It returns ErrReused when the pair is
	// already recorded; of two concurrent calls for one pair exactly one
	// succeeds.
	UseAssertionJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error
}
