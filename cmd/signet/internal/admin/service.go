package admin

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/account"
	"github.com/signet-idp/signet/web/credentials/password"
	"github.com/signet-idp/signet/web/credentials/throttle"
	"github.com/signet-idp/signet/web/credentials/totp"
)

// Service does every management operation directly on a store. It is
// complete when New returns and safe for concurrent use.
type Service struct {
	store  storage.Store
	hasher *password.Hasher
	now    func() time.Time
	log    *slog.Logger
	keys   KeyController
	rewrap Rewrapper
	access *account.Ender
}

// Config is what a Service works with. main fills it once: the server with
// its keys and its account.Ender; the CLI with the store it opened (the same
// session and grant semantics).
type Config struct {
	Store  storage.Store
	Hasher *password.Hasher
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Log receives the audit lines of the socket API and the causes of
	// internal errors (nothing is logged when nil).
	Log *slog.Logger
	// Keys and Rewrap enable the key commands; without them (no key-encryption
	// key) those answer that key management is not available here.
	Keys   KeyController
	Rewrap Rewrapper
	// Access ends sessions (queueing their back-channel logout notices) and
	// revokes grants: the server passes the one its provider listens to, so
	// notices go out at once; when nil, New makes one on Store (the CLI: the
	// notices go out when a server runs).
	Access *account.Ender
}

// New returns the Service of cfg.
func New(cfg Config) *Service {
	s := &Service{
		store: cfg.Store, hasher: cfg.Hasher, now: cfg.Now, log: cfg.Log,
		keys: cfg.Keys, rewrap: cfg.Rewrap, access: cfg.Access,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.access == nil {
		s.access = account.New(s.store, s.log, s.now)
	}
	return s
}

// UnlockUser clears the person's sign-in lockout after wrong passwords and the
// backoff after wrong two-step codes, and reports whether either was set. Both
// are in the store, so the unlock holds on every server at once, whether or
// not one runs.
func (s *Service) UnlockUser(ctx context.Context, username string) (bool, error) {
	u, err := s.user(ctx, username)
	if err != nil {
		return false, err
	}
	was, err := throttle.Unlock(ctx, s.store, throttle.AccountStoreKey(u.Username), s.now())
	if err != nil {
		return was, classify(err, "clear sign-in lock", fmt.Sprintf("user %q", username))
	}
	if backoff(&u.TOTP) {
		var cleared bool
		_, err := s.store.UpdateUser(ctx, u.ID, func(u *storage.User) error {
			cleared = backoff(&u.TOTP)
			u.TOTP.Failures, u.TOTP.LockedUntil = 0, time.Time{}
			return nil
		})
		if err != nil {
			return was, classify(err, "clear two-step backoff", fmt.Sprintf("user %q", username))
		}
		was = was || cleared
	}
	s.log.InfoContext(ctx, "account unlocked", "event", "admin_unlock", "username", username, "was_locked", was)
	return was, nil
}

// backoff reports whether wrong two-step codes are counted against t.
func backoff(t *storage.TOTP) bool { return t.Failures > 0 || !t.LockedUntil.IsZero() }

// ListGrants returns the apps the person approved, with scopes and dates.
func (s *Service) ListGrants(ctx context.Context, username string) ([]GrantInfo, error) {
	u, err := s.user(ctx, username)
	if err != nil {
		return nil, err
	}
	grants, err := s.store.ListUserGrants(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	out := make([]GrantInfo, 0, len(grants))
	for _, g := range grants {
		gi := GrantInfo{ClientID: g.ClientID, Scopes: slices.Clone(g.Scopes), Declined: slices.Clone(g.Declined), CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}
		if c, err := s.store.GetClient(ctx, g.ClientID); err == nil {
			gi.ClientName = c.Name
		}
		out = append(out, gi)
	}
	return out, nil
}

// GrantRef names one person's grant to one client.
type GrantRef struct {
	Username string `json:"username"`
	ClientID string `json:"client_id"`
}

// RevokeGrant deletes the person's grant to a client and revokes every token
// the client holds for them.
func (s *Service) RevokeGrant(ctx context.Context, in GrantRef) error {
	username, clientID := in.Username, in.ClientID
	u, err := s.user(ctx, username)
	if err != nil {
		return err
	}
	if err := s.access.RevokeGrant(ctx, u.ID, clientID); err != nil {
		return classify(err, "revoke grant", fmt.Sprintf("a grant of user %q to client %q", username, clientID))
	}
	return nil
}

// ResetMFA removes the person's TOTP and recovery codes (a lost phone).
func (s *Service) ResetMFA(ctx context.Context, username string) error {
	u, err := s.user(ctx, username)
	if err != nil {
		return err
	}
	if err := totp.ResetMFA(ctx, s.store, u.ID); err != nil {
		return classify(err, "reset two-step sign-in", fmt.Sprintf("user %q", username))
	}
	return nil
}

// LogoutUser ends every session of the person, notifying the clients of each
// (back-channel logout), and reports how many ended.
func (s *Service) LogoutUser(ctx context.Context, username string) (int, error) {
	u, err := s.user(ctx, username)
	if err != nil {
		return 0, err
	}
	// A second factor shown for enrolment in one of those sessions can no
	// longer be confirmed.
	if _, err := s.store.UpdateUser(ctx, u.ID, func(u *storage.User) error {
		totp.ClearPending(&u.TOTP)
		return nil
	}); err != nil {
		return 0, classify(err, "log out user", fmt.Sprintf("user %q", username))
	}
	n, err := account.EndSessions(ctx, s.store, s.access, u.ID, "")
	if err != nil {
		return n, fmt.Errorf("log out user: %w", err)
	}
	return n, nil
}

// KeyController is what the Service needs of the signing keys (keys.Manager).
type KeyController interface {
	RotateNow(ctx context.Context, alg string) error
	Retire(ctx context.Context, kid string) error
}

// Rewrapper seals the signing keys under newKEK (nil: generate one) and says where
// the new key-encryption key now lives. main builds it: only it knows where the
// key-encryption key is kept.
type Rewrapper func(ctx context.Context, newKEK []byte) (string, error)

var errNoKeys = &Error{Kind: KindConflict, Msg: "key management is not available here (no key-encryption key)"}

// RotateKeys makes the published next key of alg (both when empty) sign now;
// the active key retires and a new next key is published.
func (s *Service) RotateKeys(ctx context.Context, alg string) ([]KeyInfo, error) {
	if s.keys == nil {
		return nil, errNoKeys
	}
	if alg != "" && alg != "RS256" && alg != "ES256" {
		return nil, invalidf("unsupported algorithm %q: use RS256 or ES256", alg)
	}
	if err := s.keys.RotateNow(ctx, alg); err != nil {
		return nil, fmt.Errorf("rotate keys: %w", err)
	}
	return s.ListKeys(ctx)
}

// RetireKey removes a (compromised) key from the JWKS at once.
func (s *Service) RetireKey(ctx context.Context, kid string) ([]KeyInfo, error) {
	if s.keys == nil {
		return nil, errNoKeys
	}
	if kid == "" || len(kid) > 128 {
		return nil, invalidf("a key id (kid) is required")
	}
	if err := s.keys.Retire(ctx, kid); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, &Error{Kind: KindNotFound, Msg: fmt.Sprintf("no signing key with kid %q (see signet keys list)", kid)}
		}
		return nil, fmt.Errorf("retire key: %w", err)
	}
	return s.ListKeys(ctx)
}

// RewrapKeys seals the private keys under a new key-encryption key.
func (s *Service) RewrapKeys(ctx context.Context, in RewrapInput) (RewrapResult, error) {
	if s.rewrap == nil {
		return RewrapResult{}, errNoKeys
	}
	var kek []byte
	if in.NewKey != "" {
		var err error
		kek, err = decodeKey32(in.NewKey)
		if err != nil {
			return RewrapResult{}, invalidf("the new key-encryption key must be base64 of exactly 32 bytes")
		}
	}
	msg, err := s.rewrap(withKeyGenerated(ctx, in.Generated), kek)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return RewrapResult{}, err
		}
		return RewrapResult{}, fmt.Errorf("rewrap keys: %w", err)
	}
	return RewrapResult{Message: msg}, nil
}

// decodeKey32 accepts standard or URL base64, padded or not, of 32 bytes.
func decodeKey32(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("not base64 of 32 bytes")
}

// AddUser creates a person with a random opaque id. A username already taken, also
// when it differs only in case, is an error wrapping storage.ErrAlreadyExists.
func (s *Service) AddUser(ctx context.Context, in AddUserInput) (UserInfo, error) {
	if err := errors.Join(
		validateUsername(in.Username),
		validateEmail(in.Email),
		validateText("name", in.Name),
		validatePassword(in.Password),
	); err != nil {
		return UserInfo{}, firstInvalid(err)
	}
	// Refuse a name that only differs in case from an existing one: two accounts
	// "Alice" and "alice" are an invitation to confusion and phishing.
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return UserInfo{}, fmt.Errorf("list users: %w", err)
	}
	for _, u := range users {
		if strings.EqualFold(u.Username, in.Username) {
			return UserInfo{}, &Error{Kind: KindExists, Msg: fmt.Sprintf("user %q already exists", u.Username)}
		}
	}
	// Emails are unique too: the sign-in form takes one instead of a username.
	for _, u := range users {
		if storage.FoldEmail(u.Email) == storage.FoldEmail(in.Email) {
			return UserInfo{}, &Error{Kind: KindExists, Msg: fmt.Sprintf("email %q is already used by user %q", in.Email, u.Username)}
		}
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return UserInfo{}, fmt.Errorf("hash password: %w", err)
	}
	now := s.now().UTC()
	u := &storage.User{
		ID:            randomHex(16),
		Username:      in.Username,
		Email:         in.Email,
		EmailVerified: in.EmailVerified,
		Name:          in.Name,
		PasswordHash:  hash,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return UserInfo{}, classify(err, "create user", fmt.Sprintf("user %q", in.Username))
	}
	return userInfo(u), nil
}

// ListUsers returns every person ordered by username.
func (s *Service) ListUsers(ctx context.Context) ([]UserInfo, error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]UserInfo, 0, len(users))
	for _, u := range users {
		out = append(out, userInfo(u))
	}
	return out, nil
}

// ShowUser returns one person.
func (s *Service) ShowUser(ctx context.Context, username string) (UserInfo, error) {
	u, err := s.user(ctx, username)
	if err != nil {
		return UserInfo{}, err
	}
	info := userInfo(u)
	now := s.now()
	locked, err := throttle.LockedUntil(ctx, s.store, throttle.AccountStoreKey(u.Username), now)
	if err != nil {
		return UserInfo{}, classify(err, "read the sign-in lock", fmt.Sprintf("user %q", username))
	}
	for _, until := range []time.Time{locked, u.TOTP.LockedUntil} {
		if now.Before(until) && until.After(info.LockedUntil) {
			info.LockedUntil = until
		}
	}
	return info, nil
}

// DisableUser marks the person disabled, deletes their browser sessions and revokes
// their refresh-token families (and the access tokens issued from them). Disabling a
// disabled user ends whatever sessions remain.
func (s *Service) DisableUser(ctx context.Context, username string) error {
	u, err := s.user(ctx, username)
	if err != nil {
		return err
	}
	_, err = s.store.UpdateUser(ctx, u.ID, func(u *storage.User) error {
		u.Disabled = true
		u.UpdatedAt = s.now().UTC()
		return nil
	})
	if err != nil {
		return classify(err, "disable user", fmt.Sprintf("user %q", username))
	}
	if _, err := account.EndAccess(ctx, s.store, s.access, u.ID, ""); err != nil {
		return fmt.Errorf("disable user: %w", err)
	}
	return nil
}

// SetPasswordInput is a person's new password.
type SetPasswordInput struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// SetPassword replaces the person's password and ends every session, refresh
// token and access token given out before (account.SetPassword), and reports
// what ended.
func (s *Service) SetPassword(ctx context.Context, in SetPasswordInput) (account.Ended, error) {
	username, pw := in.Username, in.Password
	if err := validatePassword(pw); err != nil {
		return account.Ended{}, err
	}
	u, err := s.user(ctx, username)
	if err != nil {
		return account.Ended{}, err
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return account.Ended{}, fmt.Errorf("hash password: %w", err)
	}
	ended, err := account.SetPassword(ctx, s.store, s.access, u.ID, hash, "", s.now())
	if err != nil {
		return ended, classify(err, "set password", fmt.Sprintf("user %q", username))
	}
	return ended, nil
}

func (s *Service) user(ctx context.Context, username string) (*storage.User, error) {
	if err := validateUsername(username); err != nil {
		return nil, err
	}
	u, err := s.store.GetUserByUsername(ctx, username)
	if err != nil {
		return nil, classify(err, "get user", fmt.Sprintf("user %q", username))
	}
	return u, nil
}

// AddClient registers a relying party. A confidential client gets a secret of 32
// random bytes (base64url), returned here once; only its SHA-256 is stored.
func (s *Service) AddClient(ctx context.Context, in AddClientInput) (ClientCreated, error) {
	c, err := s.newClient(in)
	if err != nil {
		return ClientCreated{}, err
	}
	if _, err := s.store.GetClient(ctx, in.ID); err == nil {
		return ClientCreated{}, &Error{Kind: KindExists, Msg: fmt.Sprintf("client %q already exists", in.ID)}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return ClientCreated{}, fmt.Errorf("get client: %w", err)
	}
	if err := s.groupsExist(ctx, in.AllowedGroups); err != nil {
		return ClientCreated{}, err
	}
	var secret string
	// A private_key_jwt client proves itself with its key: a secret beside
	// would be a second, weaker credential.
	if !in.Public && c.TokenAuthMethod != storage.TokenAuthPrivateKeyJWT {
		b := make([]byte, 32)
		_, _ = rand.Read(b) // never fails
		secret = base64.RawURLEncoding.EncodeToString(b)
		sum := sha256.Sum256([]byte(secret))
		c.SecretHash = sum[:]
	}
	if err := s.store.CreateClient(ctx, c); err != nil {
		return ClientCreated{}, classify(err, "create client", fmt.Sprintf("client %q", in.ID))
	}
	return ClientCreated{ClientID: c.ID, ClientSecret: secret}, nil
}

// newClient validates in and builds the record, without the secret.
func (s *Service) newClient(in AddClientInput) (*storage.Client, error) {
	if err := validateClientID(in.ID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Name) == "" {
		return nil, invalidf("client name is required")
	}
	if err := validateText("client name", in.Name); err != nil {
		return nil, err
	}
	grants, err := validateGrants(in)
	if err != nil {
		return nil, err
	}
	usesRedirects := policy.GrantAllowed(grants, policy.GrantAuthorizationCode)
	if len(in.RedirectURIs) == 0 && usesRedirects {
		return nil, invalidf("at least one redirect URI is required")
	}
	if len(in.RedirectURIs) > 0 && !usesRedirects {
		return nil, invalidf("redirect URIs are for the authorization_code grant, which this client is not registered for")
	}
	if len(in.RedirectURIs) > maxRedirectURIs {
		return nil, invalidf("at most %d redirect URIs", maxRedirectURIs)
	}
	for i, u := range in.RedirectURIs {
		if err := validateRedirectURI(u, in.Public); err != nil {
			return nil, err
		}
		if slices.Contains(in.RedirectURIs[:i], u) {
			return nil, invalidf("redirect URI %q is listed twice", u)
		}
	}
	for i, u := range in.PostLogoutRedirectURIs {
		if err := validateRedirectURI(u, in.Public); err != nil {
			return nil, invalidf("post-logout %s", err.Error())
		}
		if slices.Contains(in.PostLogoutRedirectURIs[:i], u) {
			return nil, invalidf("post-logout redirect URI %q is listed twice", u)
		}
	}
	if len(in.PostLogoutRedirectURIs) > maxRedirectURIs {
		return nil, invalidf("at most %d post-logout redirect URIs", maxRedirectURIs)
	}
	if in.BackchannelLogoutURI != "" {
		if err := validateRedirectURI(in.BackchannelLogoutURI, false); err != nil {
			// The same rules as a redirect URI, said of what it is.
			return nil, invalidf("back-channel logout URI: %s", strings.TrimPrefix(err.Error(), "redirect URI "))
		}
	}
	for i, sc := range in.AllowedScopes {
		if sc == "" || len(sc) > 128 || strings.ContainsAny(sc, " \t\r\n\"\\") {
			return nil, invalidf("allowed scope %q is not a scope name", sc)
		}
		if slices.Contains(in.AllowedScopes[:i], sc) {
			return nil, invalidf("allowed scope %q is listed twice", sc)
		}
	}
	for i, g := range in.AllowedGroups {
		if err := validateGroupName(g); err != nil {
			return nil, err
		}
		if slices.Contains(in.AllowedGroups[:i], g) {
			return nil, invalidf("allowed group %q is listed twice", g)
		}
	}
	alg := cmp.Or(in.IDTokenAlg, defaultIDTokenAlg)
	if alg != "RS256" && alg != "ES256" {
		return nil, invalidf("id token algorithm %q is not RS256 or ES256", in.IDTokenAlg)
	}
	format := cmp.Or(in.AccessTokenFormat, defaultTokenFormat)
	if format != "jwt" && format != "opaque" {
		return nil, invalidf("access token format %q is not jwt or opaque", in.AccessTokenFormat)
	}
	auth, err := validateTokenAuth(in)
	if err != nil {
		return nil, err
	}
	return &storage.Client{
		ID:                     in.ID,
		Name:                   in.Name,
		RedirectURIs:           slices.Clone(in.RedirectURIs),
		Public:                 in.Public,
		FirstParty:             in.FirstParty,
		RequireMFA:             in.RequireMFA,
		PostLogoutRedirectURIs: slices.Clone(in.PostLogoutRedirectURIs),
		BackchannelLogoutURI:   in.BackchannelLogoutURI,
		AllowedScopes:          slices.Clone(in.AllowedScopes),
		AllowedGroups:          slices.Clone(in.AllowedGroups),
		GrantTypes:             grants,
		IDTokenAlg:             alg,
		AccessTokenFormat:      format,
		TokenAuthMethod:        auth.method,
		JWKSURI:                auth.jwksURI,
		JWKS:                   auth.jwks,
		CreatedAt:              s.now().UTC(),
	}, nil
}

// ListClients returns every relying party ordered by id.
func (s *Service) ListClients(ctx context.Context) ([]ClientInfo, error) {
	clients, err := s.store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	out := make([]ClientInfo, 0, len(clients))
	for _, c := range clients {
		out = append(out, clientInfo(c))
	}
	return out, nil
}

// ShowClient returns one relying party.
func (s *Service) ShowClient(ctx context.Context, id string) (ClientInfo, error) {
	if err := validateClientID(id); err != nil {
		return ClientInfo{}, err
	}
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return ClientInfo{}, classify(err, "get client", fmt.Sprintf("client %q", id))
	}
	return clientInfo(c), nil
}

// RemoveClient deletes a relying party. Its tokens stop working because the provider
// no longer finds the client.
func (s *Service) RemoveClient(ctx context.Context, id string) error {
	if err := validateClientID(id); err != nil {
		return err
	}
	if _, err := s.store.GetClient(ctx, id); err != nil {
		return classify(err, "delete client", fmt.Sprintf("client %q", id))
	}
	// Take back every grant and token of the client first, so that a client
	// registered later under the same id inherits neither consent nor tokens.
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("delete client: %w", err)
	}
	for _, u := range users {
		if err := s.access.RevokeGrant(ctx, u.ID, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("delete client: %w", err)
		}
	}
	return classify(s.store.DeleteClient(ctx, id), "delete client", fmt.Sprintf("client %q", id))
}

// ListKeys returns the public description of every signing key, oldest first.
func (s *Service) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	keys, err := s.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	out := make([]KeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, KeyInfo{
			ID:          k.ID,
			Alg:         k.Alg,
			State:       k.State,
			CreatedAt:   k.CreatedAt,
			ActivatedAt: k.ActivatedAt,
			RetiredAt:   k.RetiredAt,
			DeleteAfter: k.DeleteAfter,
		})
	}
	slices.SortFunc(out, func(a, b KeyInfo) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func userInfo(u *storage.User) UserInfo {
	return UserInfo{
		ID:            u.ID,
		Username:      u.Username,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Name:          u.Name,
		Groups:        append([]string{}, u.Groups...),
		Disabled:      u.Disabled,
		TwoStep:       u.TOTP.Enrolled(),
		CreatedAt:     u.CreatedAt,
		UpdatedAt:     u.UpdatedAt,
	}
}

func clientInfo(c *storage.Client) ClientInfo {
	ci := ClientInfo{
		ID:                     c.ID,
		Name:                   c.Name,
		RedirectURIs:           slices.Clone(c.RedirectURIs),
		Public:                 c.Public,
		FirstParty:             c.FirstParty,
		RequireMFA:             c.RequireMFA,
		IDTokenAlg:             cmp.Or(c.IDTokenAlg, defaultIDTokenAlg),
		AccessTokenFormat:      cmp.Or(c.AccessTokenFormat, defaultTokenFormat),
		PostLogoutRedirectURIs: slices.Clone(c.PostLogoutRedirectURIs),
		BackchannelLogoutURI:   c.BackchannelLogoutURI,
		AllowedScopes:          slices.Clone(c.AllowedScopes),
		AllowedGroups:          slices.Clone(c.AllowedGroups),
		GrantTypes:             grantTypes(c.GrantTypes),
		TokenAuthMethod:        tokenAuthMethod(c),
		JWKSURI:                c.JWKSURI,
		JWKS:                   json.RawMessage(c.JWKS),
		CreatedAt:              c.CreatedAt,
		UpdatedAt:              c.UpdatedAt,
	}
	if len(c.PreviousSecretHash) > 0 {
		ci.OldSecretExpiresAt = c.PreviousSecretExpiresAt
	}
	return ci
}

// firstInvalid returns the first *Error of a joined validation error, so that the
// operator reads one line.
func firstInvalid(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// validateGrants checks the grant types of a client and returns them sorted, or
// nil for the default (the authorization code grant).
func validateGrants(in AddClientInput) ([]string, error) {
	var out []string
	for _, g := range in.GrantTypes {
		if !slices.Contains(policy.RegistrableGrants, g) {
			return nil, invalidf("grant %q is not one of %s", g, strings.Join(policy.RegistrableGrants, ", "))
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	if slices.Contains(out, policy.GrantClientCredentials) && in.Public {
		return nil, invalidf("a public client cannot use client_credentials: it has no secret to authenticate with")
	}
	if len(out) == 1 && out[0] == policy.GrantAuthorizationCode {
		return nil, nil
	}
	slices.Sort(out)
	return out, nil
}

// grantTypes is what a client's grants mean, for showing: the default spelled out.
func grantTypes(g []string) []string {
	if len(g) == 0 {
		return []string{policy.GrantAuthorizationCode, policy.GrantRefreshToken}
	}
	out := slices.Clone(g)
	if policy.GrantAllowed(g, policy.GrantRefreshToken) {
		out = append(out, policy.GrantRefreshToken)
	}
	return out
}
