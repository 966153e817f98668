// Package storage is the persistence contract of Signet: the domain records, one small
// interface per aggregate, and the sentinel errors every backend returns.
//
// It owns no behaviour beyond that contract: no protocol decisions, no clocks, no
// randomness, no cryptography. Backends live in sub-packages (boltstore, and later
// postgres); storagetest holds the conformance suite each backend must pass. Callers
// decide expiry with the record's own Expired method and the time they are given;
// backends only delete expired records when asked (DeleteExpired).
//
// Secrets never reach storage in the clear: client secrets, refresh tokens, browser
// session ids and authorization codes are stored as SHA-256 hashes computed by the
// caller, and private keys arrive sealed.
package storage

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// Sentinel errors. Backends wrap them with %w; callers compare with errors.Is.
var (
	// ErrNotFound means no record has the given key (or it was deleted).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a record with the same unique key exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict means the record is not in the state the operation requires
	// (for example a code issued twice for one auth request).
	ErrConflict = errors.New("conflict")
	// ErrReused means a single-use value (an authorization code, a rotated refresh
	// token) was presented again. The backend has already revoked what it issued.
	ErrReused = errors.New("reused")
	// ErrUnavailable means the backend cannot be reached just now (a database
	// restarting or out of reach); the same call may succeed later, so callers
	// answer "try again" (503), not "broken" (500).
	ErrUnavailable = errors.New("storage unavailable")
)

// Store is everything a backend provides. Optional capabilities (Backupper) are
// discovered with a type assertion.
type Store interface {
	Clients
	Users
	Sessions
	AuthRequests
	Tokens
	Assertions
	Keys
	Logouts
	Grants
	Groups
	APIs
	DeviceAuthorizations
	Throttles
	// DeleteExpired removes at most limit records whose expiry is before now, across
	// all aggregates, and reports how many it removed. The janitor calls it in a
	// loop until it returns fewer than limit.
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
	Close() error
}

// Backupper is implemented by backends that can write a consistent online copy.
type Backupper interface {
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// Client is a registered relying party.
type Client struct {
	ID   string
	Name string
	// SecretHash is the SHA-256 of the client secret; empty for public clients.
	SecretHash   []byte
	RedirectURIs []string
	// Public clients have no secret and must use PKCE.
	Public bool
	// FirstParty clients skip the consent page.
	FirstParty bool
	// RequireMFA makes every sign-in to this client use a second factor.
	RequireMFA bool
	// AllowedScopes limits the scopes the client may request beside openid; empty
	// means every configured scope.
	AllowedScopes []string
	// IDTokenAlg is "RS256" (default) or "ES256".
	IDTokenAlg string
	// AccessTokenFormat is "jwt" (default) or "opaque".
	AccessTokenFormat      string
	PostLogoutRedirectURIs []string
	BackchannelLogoutURI   string
	// AllowedGroups, when not empty, limits sign-in to members of one of them.
	AllowedGroups []string
	// GrantTypes lists the grants the client may use; empty means the
	// authorization code grant with refresh tokens (a client registered with
	// redirect URIs before grant types existed).
	GrantTypes []string
	// TokenAuthMethod is how the client authenticates at the token endpoint:
	// "" for a secret (client_secret_basic or client_secret_post; none for a
	// public client) or TokenAuthPrivateKeyJWT for an assertion signed with a
	// key of its own (RFC 7523), in which case it has no secret.
	TokenAuthMethod string `json:",omitempty"`
	// JWKSURI is where a private_key_jwt client publishes its public keys (a
	// JWK Set); JWKS holds them instead when they were registered as a file.
	JWKSURI string `json:",omitempty"`
	JWKS    []byte `json:",omitempty"`
	// PreviousSecretHash is the SHA-256 of the secret a rotation replaced, still
	// accepted until PreviousSecretExpiresAt (a deployment rolling to the new one).
	PreviousSecretHash      []byte
	PreviousSecretExpiresAt time.Time
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// Clients stores relying parties.
type Clients interface {
	// CreateClient returns ErrAlreadyExists when the id is taken.
	CreateClient(ctx context.Context, c *Client) error
	GetClient(ctx context.Context, id string) (*Client, error)
	// ListClients returns every client ordered by id.
	ListClients(ctx context.Context) ([]*Client, error)
	// UpdateClient loads the client, calls fn and stores the result in one
	// transaction. fn must not change ID. An error from fn aborts.
	UpdateClient(ctx context.Context, id string, fn func(*Client) error) (*Client, error)
	DeleteClient(ctx context.Context, id string) error
}

// User is a person who can sign in.
type User struct {
	// ID is the stable, opaque subject identifier (never the username).
	ID       string
	Username string
	// Email is unique among people, compared case-insensitively (FoldEmail).
	Email         string
	EmailVerified bool
	Name          string
	// Groups names the groups the person belongs to, sorted.
	Groups []string
	// PasswordHash is a PHC string ($argon2id$... or an imported $2a$/$2b$ bcrypt hash).
	PasswordHash string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// TokensValidAfter is when the password last changed: every access and
	// refresh token issued at or before it is refused, even if revoking it
	// one by one was interrupted.
	TokensValidAfter time.Time
	// TOTP is the person's second factor; its zero value means none. Every change
	// to it goes through UpdateUser, so that checking a code and recording it
	// (replay, throttling) is one transaction.
	TOTP TOTP
}

// TOTP is a person's time-based one-time password (RFC 6238) enrolment and the
// state that guards it. Only web/credentials/totp interprets it; the secrets
// arrive sealed.
type TOTP struct {
	// Secret is the sealed TOTP secret (AES-256-GCM, sealed by
	// web/credentials/totp); empty when the person has no second factor.
	Secret []byte
	// EnrolledAt is when the enrolment was confirmed with a correct code.
	EnrolledAt time.Time
	// LastStep is the time step (Unix time / 30 s) of the last accepted code. A
	// code of that step or an earlier one is refused, so no code works twice.
	LastStep int64
	// RecoveryCodes holds the SHA-256 (hex) of each unused recovery code.
	RecoveryCodes []string
	// Failures counts wrong codes since the last accepted one.
	Failures int
	// LockedUntil is when the next code may be checked, after repeated failures.
	LockedUntil time.Time
	// PendingSecret is a sealed secret shown for enrolment and not yet confirmed
	// by a code; PendingSince is when it was created and PendingSID the public id
	// of the browser session it was shown to, the only one that may confirm it.
	PendingSecret []byte
	PendingSince  time.Time
	PendingSID    string
}

// Enrolled reports whether the person has a confirmed second factor.
func (t *TOTP) Enrolled() bool { return len(t.Secret) > 0 }

// FoldEmail is the form in which emails are compared: two people never share an
// email that differs only in case.
func FoldEmail(email string) string { return strings.ToLower(email) }

// Users stores people. Usernames are unique, and so are non-empty emails
// (compared with FoldEmail).
type Users interface {
	// CreateUser returns ErrAlreadyExists when the id, the username or the email
	// is taken.
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	// GetUserByEmail finds the person whose email folds to the same as email.
	GetUserByEmail(ctx context.Context, email string) (*User, error)
	// ListUsers returns every user ordered by username.
	ListUsers(ctx context.Context) ([]*User, error)
	// UpdateUser loads the user, calls fn on it and stores the result in one
	// transaction. fn must not change ID or Username; it may change Email, and
	// an email another person has is ErrAlreadyExists. An error from fn aborts.
	UpdateUser(ctx context.Context, id string, fn func(*User) error) (*User, error)
	// DeleteUser removes the person (not their sessions, tokens or grants:
	// callers end those first), or returns ErrNotFound.
	DeleteUser(ctx context.Context, id string) error
}

// API is a resource server: access tokens that carry its scopes name its
// Audience in "aud" (RFC 8707, RFC 9068), and it may introspect the tokens meant
// for it with its own secret.
type API struct {
	// Audience is the API's identifier, an absolute URI.
	Audience string
	Name     string
	// Scopes are the configured scopes that belong to this API; a scope belongs
	// to at most one API.
	Scopes []string
	// IntrospectionSecretHash is the SHA-256 of the API's introspection secret.
	IntrospectionSecretHash []byte
	CreatedAt               time.Time
}

// APIs stores resource servers.
type APIs interface {
	// CreateAPI returns ErrAlreadyExists when the audience is taken.
	CreateAPI(ctx context.Context, a *API) error
	GetAPI(ctx context.Context, audience string) (*API, error)
	// ListAPIs returns every API ordered by audience.
	ListAPIs(ctx context.Context) ([]*API, error)
	DeleteAPI(ctx context.Context, audience string) error
}

// Group is a named set of people; membership is kept on the User (Groups).
type Group struct {
	Name        string
	Description string
	CreatedAt   time.Time
}

// Groups stores group definitions.
type Groups interface {
	// CreateGroup returns ErrAlreadyExists when the name is taken.
	CreateGroup(ctx context.Context, g *Group) error
	GetGroup(ctx context.Context, name string) (*Group, error)
	// ListGroups returns every group ordered by name.
	ListGroups(ctx context.Context) ([]*Group, error)
	// DeleteGroup removes the definition, or returns ErrNotFound. Callers remove
	// the members first.
	DeleteGroup(ctx context.Context, name string) error
}

// Session is a server-side browser session.
type Session struct {
	// ID is the SHA-256 (hex) of the random cookie value; the cookie value itself is
	// never stored.
	ID string
	// SID is the public session id carried in ID tokens as "sid".
	SID       string
	UserID    string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	CreatedAt time.Time
	LastSeen  time.Time
	// ExpiresAt is the absolute end of the session.
	ExpiresAt time.Time
}

// Expired reports whether the session has ended at now.
func (s *Session) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }

// Idle reports whether the session has seen no activity (a page of Signet's, or
// a refresh of one of its tokens) for longer than limit at now; a zero limit
// means no idle end.
func (s *Session) Idle(now time.Time, limit time.Duration) bool {
	return limit > 0 && now.Sub(s.LastSeen) > limit
}

// TouchDue reports whether activity at now should be recorded in LastSeen: at
// most once a minute (a write per request would be waste), and often enough (a
// quarter of a shorter idle limit) that the idle limit sees the activity.
func (s *Session) TouchDue(now time.Time, idleLimit time.Duration) bool {
	every := time.Minute
	if idleLimit > 0 {
		every = min(every, idleLimit/4)
	}
	return now.Sub(s.LastSeen) > every
}

// Sessions stores browser sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s *Session) error
	GetSession(ctx context.Context, id string) (*Session, error)
	UpdateSession(ctx context.Context, id string, fn func(*Session) error) (*Session, error)
	DeleteSession(ctx context.Context, id string) error
	// ListUserSessions returns the user's sessions, expired ones included.
	ListUserSessions(ctx context.Context, userID string) ([]*Session, error)
	// GetUserSessionBySID returns the user's session whose public id is sid,
	// expired or not, or ErrNotFound. The token endpoint asks it on every code
	// exchange: it must not cost a read of every session the person has.
	GetUserSessionBySID(ctx context.Context, userID, sid string) (*Session, error)
	// ListIdleSessions returns at most limit sessions whose LastSeen is before
	// lastSeenBefore, so that the janitor can end them with their logout
	// notices.
	ListIdleSessions(ctx context.Context, lastSeenBefore time.Time, limit int) ([]*Session, error)
}

// AuthRequest is an authorization request between /authorize and the code exchange.
// A request with an empty ClientID is the login UI's own sign-in to the account
// pages (holding the state between a password and a second factor); it never
// becomes Done and never gets a code.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	Scopes              []string
	ResponseType        string
	ResponseMode        string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	// MaxAge is the max_age parameter in seconds, or -1 when absent.
	MaxAge int64
	// IDTokenHintSubject is the sub of a verified id_token_hint.
	IDTokenHintSubject string
	// Resource is the API (RFC 8707 resource indicator) the request names.
	Resource  string
	LoginHint string
	ACRValues []string
	UILocales []string
	CreatedAt time.Time
	ExpiresAt time.Time

	// Set by the login UI between the first factor and the second: who passed
	// the first factor (a password, or a browser session that used only one),
	// when, and the SHA-256 (hex) of a random value held in a cookie by the
	// browser that passed it. Cleared when the request is done.
	FirstFactorUserID  string
	FirstFactorAt      time.Time
	FirstFactorBinding string

	// ConsentSID is set while the request waits on the consent page: the public
	// id of the session whose person must approve it.
	ConsentSID string

	// Set by the login UI once the person is authenticated (and has consented).
	Done       bool
	UserID     string
	AuthTime   time.Time
	AMR        []string
	ACR        string
	SessionSID string
	// SessionExpiresAt is the end of that session: grants without
	// offline_access end with it.
	SessionExpiresAt time.Time
	GrantedScopes    []string

	// Set when the code is issued and redeemed.
	CodeHash      []byte
	CodeExpiresAt time.Time
	CodeUsed      bool
	// IssuedAccessTokenID and IssuedRefreshFamilyID are what the code's redemption
	// issued, so that a replayed code can revoke them. IssuedAccessTokenExpiresAt
	// is set for a JWT access token (which has no record): a replay puts its id on
	// the revoked list until then.
	IssuedAccessTokenID        string
	IssuedAccessTokenExpiresAt time.Time
	IssuedRefreshFamilyID      string
}

// Expired reports whether the request (before a code) or its code has expired.
func (a *AuthRequest) Expired(now time.Time) bool {
	if len(a.CodeHash) > 0 {
		return !now.Before(a.CodeExpiresAt)
	}
	return !now.Before(a.ExpiresAt)
}

// MaxAuthRequestIDLen bounds an auth request id. Ids may be long: a request nobody
// has signed in to yet travels sealed in its id (storage/pending) rather than
// being stored.
const MaxAuthRequestIDLen = 16 << 10

// AuthRequests stores authorization requests and their codes. A request's record
// lives until both ExpiresAt and CodeExpiresAt have passed, so that a replayed code
// is still recognised (and revokes what it issued) until the code's own expiry.
type AuthRequests interface {
	CreateAuthRequest(ctx context.Context, a *AuthRequest) error
	GetAuthRequest(ctx context.Context, id string) (*AuthRequest, error)
	// UpdateAuthRequest loads, calls fn and stores in one transaction. fn must not
	// change ID, CodeHash, CodeUsed or the Issued* fields: those change only through
	// IssueCode and RedeemCode.
	UpdateAuthRequest(ctx context.Context, id string, fn func(*AuthRequest) error) (*AuthRequest, error)
	DeleteAuthRequest(ctx context.Context, id string) error
	// IssueCode attaches a code (by its hash) to a Done request, once. It returns
	// ErrConflict if the request is not Done or already has a code.
	IssueCode(ctx context.Context, id string, codeHash []byte, expiresAt time.Time) error
	// GetAuthRequestByCode finds a request by its code hash, used or not.
	GetAuthRequestByCode(ctx context.Context, codeHash []byte) (*AuthRequest, error)
}

// AccessToken describes an access token, keyed by its jti.
//
// Only opaque access tokens are stored: the token is a handle and this record is
// all there is, accepted by userinfo and introspection while it exists and is not
// revoked. A JWT access token (JWT set) carries its claims itself and is never
// stored: the token endpoint would otherwise write a record per answer that
// nothing but revocation reads. What can end a JWT access token before its exp
// is kept elsewhere and is small: its jti on the revoked list (RevokeJWT), the
// refresh family named in it (revoked on reuse, replay, logout and grant
// revocation, and kept while its tokens live: RefreshFamily.KeepUntil), the
// person's TokensValidAfter and the session and grant its family stands on.
type AccessToken struct {
	ID string
	// JWT marks a self-contained JWT access token: RedeemCode and
	// RotateRefreshToken store no record of it (only ID and ExpiresAt are read,
	// so that a replayed code can revoke it).
	JWT      bool `json:",omitempty"`
	ClientID string
	UserID   string
	Scopes   []string
	Audience []string
	// RefreshFamilyID links the token to the refresh family whose use issued it,
	// so that revoking the family revokes it too. Empty when none.
	RefreshFamilyID string
	SessionSID      string
	AuthTime        time.Time
	AMR             []string
	IssuedAt        time.Time
	ExpiresAt       time.Time
	Revoked         bool
}

// Expired reports whether the token has expired at now.
func (t *AccessToken) Expired(now time.Time) bool { return !now.Before(t.ExpiresAt) }

// RefreshFamily is one line of refresh tokens descended from a single grant
// (person + client + device). Revoking it revokes every token in it.
type RefreshFamily struct {
	ID         string
	ClientID   string
	UserID     string
	Scopes     []string
	AuthTime   time.Time
	AMR        []string
	ACR        string
	SessionSID string
	CreatedAt  time.Time
	// ExpiresAt is the absolute lifetime of the family.
	ExpiresAt time.Time
	// KeepUntil, when after ExpiresAt, keeps the record (and its Revoked state)
	// that long: the JWT access tokens the family issued name it, and are judged
	// by it until they expire. The token endpoint sets it to ExpiresAt plus the
	// access-token lifetime.
	KeepUntil time.Time `json:",omitzero"`
	Revoked   bool
	// Offline families were granted with offline_access and outlive the browser
	// session; the others end with it.
	Offline bool
}

// Expired reports whether the family has passed its absolute lifetime.
func (f *RefreshFamily) Expired(now time.Time) bool { return !now.Before(f.ExpiresAt) }

// RefreshToken is one member of a family, keyed by Hash: the SHA-256 (hex) of
// the token, which the provider prefixes with the token's issue time so that
// successors are stored together (provider/refreshkey.go).
type RefreshToken struct {
	Hash     string
	FamilyID string
	ClientID string
	UserID   string
	// Scopes this token may be exchanged for (a subset of the family's).
	Scopes   []string
	IssuedAt time.Time
	// ExpiresAt is the idle lifetime of this token.
	ExpiresAt time.Time
	// RotatedAt is set when the token was exchanged for its successor.
	RotatedAt time.Time
	// GraceUsed is set when the token was exchanged a second time inside the grace
	// window; a third presentation is a reuse.
	GraceUsed bool
}

// Expired reports whether the token has passed its idle lifetime.
func (t *RefreshToken) Expired(now time.Time) bool { return !now.Before(t.ExpiresAt) }

// Rotation describes one exchange of a refresh token.
type Rotation struct {
	// OldHash is the hash of the presented token.
	OldHash string
	// Now is the time of the exchange.
	Now time.Time
	// Grace is how long after its rotation a token may be exchanged once more
	// (a lost response); zero disables it.
	Grace time.Duration
	// Next is the successor token (FamilyID is set by the backend).
	Next *RefreshToken
	// Access is the access token issued with it (RefreshFamilyID set by the
	// backend); stored only when it is not a JWT.
	Access *AccessToken
}

// Tokens stores access tokens, refresh families and the code redemption, each
// state change in one transaction.
type Tokens interface {
	// RedeemCode marks the code used and stores what it issues, atomically: the
	// access token's record (none for a JWT: its id and expiry go on the
	// request), and when family is not nil the new family with its first
	// refresh token; when the request names its session (SessionSID and
	// SessionExpiresAt), it records the client as one of the session's (see
	// Logouts.AddSessionClient). Of two concurrent redemptions exactly one succeeds. A code
	// already used returns ErrReused after revoking (in the same transaction) the
	// access token (its record, or for a JWT its jti: RevokeJWT) and family its
	// first redemption issued; an unknown code returns ErrNotFound.
	RedeemCode(ctx context.Context, codeHash []byte, at *AccessToken, family *RefreshFamily, rt *RefreshToken) error

	// CreateAccessToken stores an opaque access token's record (a JWT has none).
	CreateAccessToken(ctx context.Context, at *AccessToken) error
	// GetAccessToken returns an opaque access token's record; Revoked is true
	// when the token or its family was revoked.
	GetAccessToken(ctx context.Context, id string) (*AccessToken, error)
	RevokeAccessToken(ctx context.Context, id string) error
	// RevokeJWT puts a JWT access token's jti on the revoked list until
	// expiresAt (its exp), after which the janitor may drop the entry: the
	// token is refused for its expiry then. Revoking twice is harmless.
	RevokeJWT(ctx context.Context, jti string, expiresAt time.Time) error
	// JWTRevoked reports whether jti is on the revoked list.
	JWTRevoked(ctx context.Context, jti string) (bool, error)

	GetRefreshToken(ctx context.Context, hash string) (*RefreshToken, error)
	GetRefreshFamily(ctx context.Context, id string) (*RefreshFamily, error)
	// RotateRefreshToken exchanges a refresh token for its successor in one
	// transaction. It returns ErrNotFound when the token is unknown, expired (idle
	// or family absolute), or its family is revoked; ErrReused when the token was
	// already rotated outside the grace window (or its grace was used), after
	// revoking the whole family in the same transaction.
	RotateRefreshToken(ctx context.Context, r Rotation) (*RefreshFamily, error)
	// RevokeRefreshFamily revokes the family, its refresh tokens and every
	// access token linked to it (opaque ones by their records, JWTs by the
	// family's Revoked state, which their holders look up).
	RevokeRefreshFamily(ctx context.Context, id string) error
	// ListUserFamilies returns the user's refresh families, revoked ones included.
	ListUserFamilies(ctx context.Context, userID string) ([]*RefreshFamily, error)
}

// Device authorization states (DeviceAuthorization.Status).
const (
	// DevicePending waits for a person to enter the user code and decide.
	DevicePending = "pending"
	// DeviceApproved was approved; the device's next token request redeems it.
	DeviceApproved = "approved"
	// DeviceDenied was refused by the person (or by the client's group rule).
	DeviceDenied = "denied"
	// DeviceRedeemed issued its tokens; it never issues again.
	DeviceRedeemed = "redeemed"
)

// DeviceAuthorization is a device authorization request (RFC 8628) between
// /device_authorization and the token request that redeems it. Neither code is
// stored: the device code (256-bit random) as its SHA-256, the user code (about
// 35 bits, which a plain hash would give up to an offline search) as an HMAC
// under a server secret.
type DeviceAuthorization struct {
	// DeviceCodeHash is the SHA-256 (hex) of the device code: the record's key.
	DeviceCodeHash string
	// UserCodeHash is the keyed hash (hex) of the normalised user code, unique
	// among stored records: the /device page finds the request by it.
	UserCodeHash string
	ClientID     string
	Scopes       []string
	// Resource is the API (RFC 8707 resource indicator) the request names.
	Resource string
	// Interval is the least time between two token requests of the device;
	// each slow_down answer lengthens it.
	Interval time.Duration
	// LastPolledAt is when the device last asked for its tokens.
	LastPolledAt time.Time
	CreatedAt    time.Time
	ExpiresAt    time.Time
	// Status is DevicePending, DeviceApproved, DeviceDenied or DeviceRedeemed.
	Status string

	// Set when the person approves: who, with which sign-in, and what.
	UserID           string
	AuthTime         time.Time
	AMR              []string
	ACR              string
	SessionSID       string
	SessionExpiresAt time.Time
	GrantedScopes    []string
}

// Expired reports whether the request has expired at now (whatever its state).
func (d *DeviceAuthorization) Expired(now time.Time) bool { return !now.Before(d.ExpiresAt) }

// DeviceAuthorizations stores device authorization requests. A record lives
// until ExpiresAt (DeleteExpired), redeemed or not, so that a second redemption
// is recognised until then.
type DeviceAuthorizations interface {
	// CreateDeviceAuthorization returns ErrAlreadyExists when the device code
	// hash or the user code hash is taken (the caller draws new codes).
	CreateDeviceAuthorization(ctx context.Context, d *DeviceAuthorization) error
	GetDeviceAuthorization(ctx context.Context, deviceCodeHash string) (*DeviceAuthorization, error)
	// GetDeviceAuthorizationByUserCode finds a request by its user code hash.
	GetDeviceAuthorizationByUserCode(ctx context.Context, userCodeHash string) (*DeviceAuthorization, error)
	// UpdateDeviceAuthorization loads, calls fn and stores in one transaction
	// (polling records its time and interval there, the person's decision its
	// state). fn must not change the hashes nor set DeviceRedeemed: that is
	// RedeemDeviceCode's. An error from fn aborts and is returned as it is.
	UpdateDeviceAuthorization(ctx context.Context, deviceCodeHash string, fn func(*DeviceAuthorization) error) (*DeviceAuthorization, error)
	// RedeemDeviceCode marks an approved request redeemed and stores what it
	// issues, atomically: the access token's record (none for a JWT), the
	// family with its first refresh token (rt.FamilyID and, when empty,
	// at.RefreshFamilyID set to family.ID), and, when the request names its
	// session (SessionSID and SessionExpiresAt), the client as one of the
	// session's. Of concurrent redemptions exactly one succeeds; a request that
	// is not approved (pending, denied, already redeemed) returns ErrConflict
	// and stores nothing, an unknown one ErrNotFound.
	RedeemDeviceCode(ctx context.Context, deviceCodeHash string, at *AccessToken, family *RefreshFamily, rt *RefreshToken) error
}

// Key states.
const (
	KeyNext    = "next"
	KeyActive  = "active"
	KeyRetired = "retired"
)

// SigningKey is a stored signing key. Only keys/ interprets it.
type SigningKey struct {
	// ID is the kid: the RFC 7638 thumbprint of the public key.
	ID    string
	Alg   string
	State string
	// PublicJWK is the JSON of the public JWK.
	PublicJWK []byte
	// Sealed is the private key, encrypted by keys/ (AES-256-GCM).
	Sealed      []byte
	CreatedAt   time.Time
	ActivatedAt time.Time
	RetiredAt   time.Time
	// DeleteAfter is when a retired key may be dropped from the JWKS and storage.
	DeleteAfter time.Time
}

// Keys stores signing keys. The whole set changes in one transaction so that
// rotation is a compare-and-swap: fn sees the current set and returns the next.
type Keys interface {
	ListKeys(ctx context.Context) ([]*SigningKey, error)
	// UpdateKeys calls fn with the current keys inside a write transaction and
	// replaces the set with what fn returns. When fn returns an error nothing
	// changes and UpdateKeys returns that error.
	UpdateKeys(ctx context.Context, fn func([]*SigningKey) ([]*SigningKey, error)) error
}
