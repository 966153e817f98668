package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/signet-idp/signet/storage"
)

// RewrapInput carries the new key-encryption key (base64 of 32 bytes), or nothing
// to have one generated into data_dir.
type RewrapInput struct {
	NewKey string `json:"new_key,omitempty"`
	// Generated says that the CLI generated NewKey (the operator did not give
	// it); see KeyGenerated.
	Generated bool `json:"generated,omitempty"`
}

// RewrapResult says where the new key-encryption key now lives.
type RewrapResult struct {
	Message string `json:"message"`
}

// AddUserInput describes a new person.
type AddUserInput struct {
	Username      string `json:"username"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified,omitempty"`
	Name          string `json:"name"`
	Password      string `json:"password"`
}

// UpdateUserInput changes the fields that are not nil. A changed email is
// unverified unless EmailVerified says otherwise.
type UpdateUserInput struct {
	Username      string  `json:"username"`
	Email         *string `json:"email,omitempty"`
	EmailVerified *bool   `json:"email_verified,omitempty"`
	Name          *string `json:"name,omitempty"`
}

// UserInfo is what management shows of a person: never the password hash.
type UserInfo struct {
	ID            string    `json:"id"`
	Username      string    `json:"username"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	Name          string    `json:"name,omitempty"`
	Groups        []string  `json:"groups"`
	Disabled      bool      `json:"disabled"`
	TwoStep       bool      `json:"two_step"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`

	// LockedUntil is set (ShowUser only) while repeated wrong passwords or
	// two-step codes keep the person from signing in.
	LockedUntil time.Time `json:"locked_until,omitzero"`
}

// AddGroupInput describes a new group.
type AddGroupInput struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// GroupInfo is a group; Members (usernames) only from ShowGroup.
type GroupInfo struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Members     []string  `json:"members,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// UpdateClientInput changes the scalar settings that are not nil and adds or
// removes single entries of the list settings.
type UpdateClientInput struct {
	ID                           string   `json:"id"`
	Name                         *string  `json:"name,omitempty"`
	FirstParty                   *bool    `json:"first_party,omitempty"`
	RequireMFA                   *bool    `json:"require_mfa,omitempty"`
	IDTokenAlg                   *string  `json:"id_token_alg,omitempty"`
	AccessTokenFormat            *string  `json:"access_token_format,omitempty"`
	BackchannelLogoutURI         *string  `json:"backchannel_logout_uri,omitempty"`
	AddRedirectURIs              []string `json:"add_redirect_uris,omitempty"`
	RemoveRedirectURIs           []string `json:"remove_redirect_uris,omitempty"`
	AddPostLogoutRedirectURIs    []string `json:"add_post_logout_redirect_uris,omitempty"`
	RemovePostLogoutRedirectURIs []string `json:"remove_post_logout_redirect_uris,omitempty"`
	AddAllowedScopes             []string `json:"add_allowed_scopes,omitempty"`
	RemoveAllowedScopes          []string `json:"remove_allowed_scopes,omitempty"`
	AddAllowedGroups             []string `json:"add_allowed_groups,omitempty"`
	RemoveAllowedGroups          []string `json:"remove_allowed_groups,omitempty"`
}

// RotateSecretInput asks for a new client secret; KeepOldSeconds > 0 keeps the
// old one working that long.
type RotateSecretInput struct {
	ID             string `json:"id"`
	KeepOldSeconds int64  `json:"keep_old_seconds,omitempty"`
}

// SecretRotated carries the new secret, shown once.
type SecretRotated struct {
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret"`
	OldSecretEnd time.Time `json:"old_secret_expires_at,omitzero"`
}

// AddClientInput describes a new relying party.
type AddClientInput struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirect_uris"`
	// Public clients (native and browser apps) have no secret and must use PKCE.
	Public bool `json:"public"`
	// FirstParty clients skip the consent page.
	FirstParty bool `json:"first_party"`
	// IDTokenAlg is RS256 (when empty) or ES256.
	IDTokenAlg string `json:"id_token_alg,omitempty"`
	// AccessTokenFormat is jwt (when empty) or opaque.
	AccessTokenFormat string `json:"access_token_format,omitempty"`
	// RequireMFA makes every sign-in to this client use a second factor.
	RequireMFA bool `json:"require_mfa,omitempty"`
	// AllowedScopes limits the scopes the client may request (empty: all).
	AllowedScopes []string `json:"allowed_scopes,omitempty"`
	// PostLogoutRedirectURIs are where RP-initiated logout may return (exact match).
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// BackchannelLogoutURI receives logout tokens when a session ends.
	BackchannelLogoutURI string `json:"backchannel_logout_uri,omitempty"`
	// AllowedGroups limits sign-in to members of one of these groups (empty:
	// everyone).
	AllowedGroups []string `json:"allowed_groups,omitempty"`
	// GrantTypes are the grants the client may use (empty: authorization_code).
	GrantTypes []string `json:"grant_types,omitempty"`
	// TokenAuthMethod is how the client authenticates at the token endpoint:
	// client_secret_basic (when empty; client_secret_post works too) or
	// private_key_jwt, which needs JWKSURI or JWKS and gets no secret.
	TokenAuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// JWKSURI is where a private_key_jwt client publishes its public keys:
	// https, or http to a loopback host.
	JWKSURI string `json:"jwks_uri,omitempty"`
	// JWKS is a private_key_jwt client's public keys as a JWK Set (the text of
	// the file given with --jwks-file), for a client that publishes none.
	JWKS string `json:"jwks,omitempty"`
}

// GrantInfo is one app a person approved.
type GrantInfo struct {
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name,omitempty"`
	Scopes     []string  `json:"scopes"`
	Declined   []string  `json:"declined,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// ClientCreated is the result of AddClient. ClientSecret is empty for public clients.
type ClientCreated struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
}

// ClientInfo is what management shows of a relying party: never the secret hash.
type ClientInfo struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	RedirectURIs           []string `json:"redirect_uris"`
	Public                 bool     `json:"public"`
	FirstParty             bool     `json:"first_party"`
	IDTokenAlg             string   `json:"id_token_alg"`
	AccessTokenFormat      string   `json:"access_token_format"`
	RequireMFA             bool     `json:"require_mfa"`
	AllowedScopes          []string `json:"allowed_scopes,omitempty"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri,omitempty"`
	AllowedGroups          []string `json:"allowed_groups,omitempty"`
	GrantTypes             []string `json:"grant_types"`
	// TokenAuthMethod is client_secret_basic (secret), private_key_jwt or none.
	TokenAuthMethod string `json:"token_endpoint_auth_method"`
	// JWKSURI and JWKS are a private_key_jwt client's public keys.
	JWKSURI string          `json:"jwks_uri,omitempty"`
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	// OldSecretExpiresAt is when a rotated-out secret stops working.
	OldSecretExpiresAt time.Time `json:"old_secret_expires_at,omitzero"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at,omitzero"`
}

// KeyInfo is the public description of a signing key.
type KeyInfo struct {
	ID          string    `json:"kid"`
	Alg         string    `json:"alg"`
	State       string    `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
	DeleteAfter time.Time `json:"delete_after,omitzero"`
}

// ErrInvalid is the sentinel of input that fails validation.
var ErrInvalid = errors.New("invalid input")

// Kinds of Error, as they travel over the socket.
const (
	KindInvalid  = "invalid"
	KindNotFound = "not_found"
	KindExists   = "already_exists"
	KindConflict = "conflict"
	KindInternal = "internal"
)

// Error is a management error with a one-line message fit to show the operator. It
// unwraps to the sentinel of its kind, so errors.Is(err, storage.ErrNotFound) holds
// whether the error came from a Service or through a Client.
type Error struct {
	Kind string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the sentinel of the kind: ErrInvalid, storage.ErrNotFound,
// storage.ErrAlreadyExists or storage.ErrConflict (nil for internal errors).
func (e *Error) Unwrap() error {
	switch e.Kind {
	case KindInvalid:
		return ErrInvalid
	case KindNotFound:
		return storage.ErrNotFound
	case KindExists:
		return storage.ErrAlreadyExists
	case KindConflict:
		return storage.ErrConflict
	}
	return nil
}

func invalidf(format string, args ...any) error {
	return &Error{Kind: KindInvalid, Msg: fmt.Sprintf(format, args...)}
}

// classify turns a storage error into an *Error with msg when it is one of the
// sentinels a person can act on; other errors are returned wrapped with what.
func classify(err error, what, msg string) error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return err
	case errors.Is(err, storage.ErrNotFound):
		return &Error{Kind: KindNotFound, Msg: msg + " not found"}
	case errors.Is(err, storage.ErrAlreadyExists):
		return &Error{Kind: KindExists, Msg: msg + " already exists"}
	case errors.Is(err, storage.ErrConflict):
		return &Error{Kind: KindConflict, Msg: msg + " changed concurrently; try again"}
	}
	return fmt.Errorf("%s: %w", what, err)
}
