package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/account"
)

// Limits of groups and secret rotation.
const (
	maxGroupNameLen = 64
	maxUserGroups   = 64
	maxKeepOld      = 30 * 24 * time.Hour
)

func validateGroupName(s string) error {
	if s == "" || len(s) > maxGroupNameLen || !allIn(s, "._-:/@") {
		return invalidf("group name %q must be 1 to %d characters of letters, digits, '.', '_', '-', ':', '/' and '@'", s, maxGroupNameLen)
	}
	return nil
}

// groupsExist reports the first of names that is not a defined group.
func (s *Service) groupsExist(ctx context.Context, names []string) error {
	for _, n := range names {
		if err := validateGroupName(n); err != nil {
			return err
		}
		if _, err := s.store.GetGroup(ctx, n); err != nil {
			return classify(err, "get group", fmt.Sprintf("group %q", n))
		}
	}
	return nil
}

// UpdateUser changes a person's email, its verified flag and name.
func (s *Service) UpdateUser(ctx context.Context, in UpdateUserInput) (UserInfo, error) {
	u, err := s.user(ctx, in.Username)
	if err != nil {
		return UserInfo{}, err
	}
	if in.Email != nil {
		if err := validateEmail(*in.Email); err != nil {
			return UserInfo{}, err
		}
		if other, err := s.store.GetUserByEmail(ctx, *in.Email); err == nil && other.ID != u.ID {
			return UserInfo{}, &Error{Kind: KindExists, Msg: fmt.Sprintf("email %q is already used by user %q", *in.Email, other.Username)}
		}
	}
	if in.Name != nil {
		if err := validateText("name", *in.Name); err != nil {
			return UserInfo{}, err
		}
	}
	u, err = s.store.UpdateUser(ctx, u.ID, func(u *storage.User) error {
		if in.Email != nil && *in.Email != u.Email {
			u.Email = *in.Email
			// A new address has not been verified by anyone yet.
			u.EmailVerified = false
		}
		if in.EmailVerified != nil {
			u.EmailVerified = *in.EmailVerified
		}
		if in.Name != nil {
			u.Name = *in.Name
		}
		u.UpdatedAt = s.now().UTC()
		return nil
	})
	if err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return UserInfo{}, &Error{Kind: KindExists, Msg: fmt.Sprintf("email %q is already used by another person", *in.Email)}
		}
		return UserInfo{}, classify(err, "update user", fmt.Sprintf("user %q", in.Username))
	}
	return userInfo(u), nil
}

// EnableUser lets a disabled person sign in again.
func (s *Service) EnableUser(ctx context.Context, username string) error {
	u, err := s.user(ctx, username)
	if err != nil {
		return err
	}
	_, err = s.store.UpdateUser(ctx, u.ID, func(u *storage.User) error {
		u.Disabled = false
		u.UpdatedAt = s.now().UTC()
		return nil
	})
	return classify(err, "enable user", fmt.Sprintf("user %q", username))
}

// RemoveUser ends every session and token of the person, deletes their
// grants and then the person; the subject is never used again. The person is
// disabled first, so that nothing new is issued to them while their access is
// being ended.
func (s *Service) RemoveUser(ctx context.Context, username string) (account.Ended, error) {
	u, err := s.user(ctx, username)
	if err != nil {
		return account.Ended{}, err
	}
	if _, err := s.store.UpdateUser(ctx, u.ID, func(u *storage.User) error {
		u.Disabled = true
		u.TokensValidAfter = s.now().UTC()
		return nil
	}); err != nil {
		return account.Ended{}, classify(err, "remove user", fmt.Sprintf("user %q", username))
	}
	ended, err := account.EndAccess(ctx, s.store, s.access, u.ID, "")
	if err != nil {
		return ended, fmt.Errorf("remove user: %w", err)
	}
	grants, err := s.store.ListUserGrants(ctx, u.ID)
	if err != nil {
		return ended, fmt.Errorf("remove user: list grants: %w", err)
	}
	for _, g := range grants {
		if err := s.store.DeleteGrant(ctx, u.ID, g.ClientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return ended, fmt.Errorf("remove user: delete grant: %w", err)
		}
	}
	if err := s.store.DeleteUser(ctx, u.ID); err != nil {
		return ended, classify(err, "remove user", fmt.Sprintf("user %q", username))
	}
	return ended, nil
}

// UserGroupsInput names a person and groups to add them to or take them out of.
type UserGroupsInput struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

// AddUserGroups adds a person to groups.
func (s *Service) AddUserGroups(ctx context.Context, in UserGroupsInput) (UserInfo, error) {
	username, groups := in.Username, in.Groups
	if len(groups) == 0 {
		return UserInfo{}, invalidf("name at least one group")
	}
	if err := s.groupsExist(ctx, groups); err != nil {
		return UserInfo{}, err
	}
	return s.changeGroups(ctx, username, func(have []string) ([]string, error) {
		for _, g := range groups {
			if !slices.Contains(have, g) {
				have = append(have, g)
			}
		}
		if len(have) > maxUserGroups {
			return nil, invalidf("a person may be in at most %d groups", maxUserGroups)
		}
		return have, nil
	})
}

// RemoveUserGroups takes a person out of groups.
func (s *Service) RemoveUserGroups(ctx context.Context, in UserGroupsInput) (UserInfo, error) {
	username, groups := in.Username, in.Groups
	if len(groups) == 0 {
		return UserInfo{}, invalidf("name at least one group")
	}
	return s.changeGroups(ctx, username, func(have []string) ([]string, error) {
		for _, g := range groups {
			if !slices.Contains(have, g) {
				return nil, &Error{Kind: KindNotFound, Msg: fmt.Sprintf("user %q is not in group %q", username, g)}
			}
		}
		return slices.DeleteFunc(have, func(g string) bool { return slices.Contains(groups, g) }), nil
	})
}

func (s *Service) changeGroups(ctx context.Context, username string, fn func([]string) ([]string, error)) (UserInfo, error) {
	u, err := s.user(ctx, username)
	if err != nil {
		return UserInfo{}, err
	}
	u, err = s.store.UpdateUser(ctx, u.ID, func(u *storage.User) error {
		next, err := fn(slices.Clone(u.Groups))
		if err != nil {
			return err
		}
		slices.Sort(next)
		u.Groups = next
		u.UpdatedAt = s.now().UTC()
		return nil
	})
	if err != nil {
		return UserInfo{}, classify(err, "change groups", fmt.Sprintf("user %q", username))
	}
	return userInfo(u), nil
}

// AddGroup defines a group. A name that differs from an existing one only in
// case is refused, as for usernames.
func (s *Service) AddGroup(ctx context.Context, in AddGroupInput) (GroupInfo, error) {
	if err := validateGroupName(in.Name); err != nil {
		return GroupInfo{}, err
	}
	if err := validateText("description", in.Description); err != nil {
		return GroupInfo{}, err
	}
	groups, err := s.store.ListGroups(ctx)
	if err != nil {
		return GroupInfo{}, fmt.Errorf("list groups: %w", err)
	}
	for _, g := range groups {
		if strings.EqualFold(g.Name, in.Name) {
			return GroupInfo{}, &Error{Kind: KindExists, Msg: fmt.Sprintf("group %q already exists", g.Name)}
		}
	}
	g := &storage.Group{Name: in.Name, Description: in.Description, CreatedAt: s.now().UTC()}
	if err := s.store.CreateGroup(ctx, g); err != nil {
		return GroupInfo{}, classify(err, "create group", fmt.Sprintf("group %q", in.Name))
	}
	return GroupInfo{Name: g.Name, Description: g.Description, CreatedAt: g.CreatedAt}, nil
}

// ListGroups returns every group.
func (s *Service) ListGroups(ctx context.Context) ([]GroupInfo, error) {
	groups, err := s.store.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	out := make([]GroupInfo, 0, len(groups))
	for _, g := range groups {
		out = append(out, GroupInfo{Name: g.Name, Description: g.Description, CreatedAt: g.CreatedAt})
	}
	return out, nil
}

// ShowGroup returns the group with its members.
func (s *Service) ShowGroup(ctx context.Context, name string) (GroupInfo, error) {
	if err := validateGroupName(name); err != nil {
		return GroupInfo{}, err
	}
	g, err := s.store.GetGroup(ctx, name)
	if err != nil {
		return GroupInfo{}, classify(err, "get group", fmt.Sprintf("group %q", name))
	}
	members, err := s.members(ctx, name)
	if err != nil {
		return GroupInfo{}, err
	}
	gi := GroupInfo{Name: g.Name, Description: g.Description, CreatedAt: g.CreatedAt, Members: []string{}}
	for _, u := range members {
		gi.Members = append(gi.Members, u.Username)
	}
	return gi, nil
}

func (s *Service) members(ctx context.Context, group string) ([]*storage.User, error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return slices.DeleteFunc(users, func(u *storage.User) bool { return !slices.Contains(u.Groups, group) }), nil
}

// RemoveGroup takes every member out of the group and deletes it; a group
// that a client allows is refused (the client would be open to everyone).
func (s *Service) RemoveGroup(ctx context.Context, name string) error {
	if err := validateGroupName(name); err != nil {
		return err
	}
	if _, err := s.store.GetGroup(ctx, name); err != nil {
		return classify(err, "get group", fmt.Sprintf("group %q", name))
	}
	clients, err := s.store.ListClients(ctx)
	if err != nil {
		return fmt.Errorf("list clients: %w", err)
	}
	var users []string
	for _, c := range clients {
		if slices.Contains(c.AllowedGroups, name) {
			users = append(users, c.ID)
		}
	}
	if len(users) > 0 {
		// Removing it there could leave a client open to everyone: that must be
		// the operator's explicit choice.
		return &Error{Kind: KindConflict, Msg: fmt.Sprintf("group %q is an allowed group of client %s; remove it there first (signet client update ID --remove-allowed-group %s)",
			name, strings.Join(users, ", "), name)}
	}
	members, err := s.members(ctx, name)
	if err != nil {
		return err
	}
	for _, u := range members {
		if _, err := s.store.UpdateUser(ctx, u.ID, func(u *storage.User) error {
			u.Groups = slices.DeleteFunc(u.Groups, func(g string) bool { return g == name })
			u.UpdatedAt = s.now().UTC()
			return nil
		}); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("remove group: %w", err)
		}
	}
	return classify(s.store.DeleteGroup(ctx, name), "delete group", fmt.Sprintf("group %q", name))
}

// UpdateClient changes a client's settings in place. The changed client
// passes the same checks as a new one.
func (s *Service) UpdateClient(ctx context.Context, in UpdateClientInput) (ClientInfo, error) {
	if err := validateClientID(in.ID); err != nil {
		return ClientInfo{}, err
	}
	cur, err := s.store.GetClient(ctx, in.ID)
	if err != nil {
		return ClientInfo{}, classify(err, "get client", fmt.Sprintf("client %q", in.ID))
	}
	next := AddClientInput{
		ID: cur.ID, Name: cur.Name, RedirectURIs: slices.Clone(cur.RedirectURIs), Public: cur.Public,
		FirstParty: cur.FirstParty, IDTokenAlg: cur.IDTokenAlg, AccessTokenFormat: cur.AccessTokenFormat,
		RequireMFA: cur.RequireMFA, AllowedScopes: slices.Clone(cur.AllowedScopes),
		PostLogoutRedirectURIs: slices.Clone(cur.PostLogoutRedirectURIs), BackchannelLogoutURI: cur.BackchannelLogoutURI,
		AllowedGroups: slices.Clone(cur.AllowedGroups), GrantTypes: slices.Clone(cur.GrantTypes),
		// How it authenticates stays as registered (re-add a client to change it).
		TokenAuthMethod: cur.TokenAuthMethod, JWKSURI: cur.JWKSURI, JWKS: string(cur.JWKS),
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&next.Name, in.Name)
	set(&next.IDTokenAlg, in.IDTokenAlg)
	set(&next.AccessTokenFormat, in.AccessTokenFormat)
	set(&next.BackchannelLogoutURI, in.BackchannelLogoutURI)
	if in.FirstParty != nil {
		next.FirstParty = *in.FirstParty
	}
	if in.RequireMFA != nil {
		next.RequireMFA = *in.RequireMFA
	}
	for _, l := range []struct {
		what        string
		list        *[]string
		add, remove []string
	}{
		{"redirect URI", &next.RedirectURIs, in.AddRedirectURIs, in.RemoveRedirectURIs},
		{"post-logout redirect URI", &next.PostLogoutRedirectURIs, in.AddPostLogoutRedirectURIs, in.RemovePostLogoutRedirectURIs},
		{"allowed scope", &next.AllowedScopes, in.AddAllowedScopes, in.RemoveAllowedScopes},
		{"allowed group", &next.AllowedGroups, in.AddAllowedGroups, in.RemoveAllowedGroups},
	} {
		for _, v := range l.remove {
			i := slices.Index(*l.list, v)
			if i < 0 {
				return ClientInfo{}, &Error{Kind: KindNotFound, Msg: fmt.Sprintf("client %q has no %s %q", in.ID, l.what, v)}
			}
			*l.list = slices.Delete(*l.list, i, i+1)
		}
		for _, v := range l.add {
			if slices.Contains(*l.list, v) {
				return ClientInfo{}, &Error{Kind: KindExists, Msg: fmt.Sprintf("client %q already has %s %q", in.ID, l.what, v)}
			}
			*l.list = append(*l.list, v)
		}
	}
	checked, err := s.newClient(next)
	if err != nil {
		return ClientInfo{}, err
	}
	if err := s.groupsExist(ctx, in.AddAllowedGroups); err != nil {
		return ClientInfo{}, err
	}
	c, err := s.store.UpdateClient(ctx, in.ID, func(c *storage.Client) error {
		secret, prev, prevEnd, created := c.SecretHash, c.PreviousSecretHash, c.PreviousSecretExpiresAt, c.CreatedAt
		*c = *checked
		c.SecretHash, c.PreviousSecretHash, c.PreviousSecretExpiresAt, c.CreatedAt = secret, prev, prevEnd, created
		c.UpdatedAt = s.now().UTC()
		return nil
	})
	if err != nil {
		return ClientInfo{}, classify(err, "update client", fmt.Sprintf("client %q", in.ID))
	}
	return clientInfo(c), nil
}

// RotateClientSecret gives a confidential client a new secret; with
// KeepOldSeconds the old one is accepted too until that has passed.
func (s *Service) RotateClientSecret(ctx context.Context, in RotateSecretInput) (SecretRotated, error) {
	if err := validateClientID(in.ID); err != nil {
		return SecretRotated{}, err
	}
	keep := time.Duration(in.KeepOldSeconds) * time.Second
	if in.KeepOldSeconds < 0 || keep > maxKeepOld {
		return SecretRotated{}, invalidf("--keep-old must be between 0 and %s", maxKeepOld)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails
	secret := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(secret))
	now := s.now().UTC()
	c, err := s.store.UpdateClient(ctx, in.ID, func(c *storage.Client) error {
		if c.TokenAuthMethod == storage.TokenAuthPrivateKeyJWT {
			// Its keys are rotated at its jwks_uri (or by registering again).
			return &Error{Kind: KindInvalid, Msg: fmt.Sprintf("client %q authenticates with private_key_jwt: it has no secret", in.ID)}
		}
		if c.Public || len(c.SecretHash) == 0 {
			return &Error{Kind: KindInvalid, Msg: fmt.Sprintf("client %q is public: it has no secret", in.ID)}
		}
		c.PreviousSecretHash, c.PreviousSecretExpiresAt = nil, time.Time{}
		if keep > 0 {
			c.PreviousSecretHash, c.PreviousSecretExpiresAt = c.SecretHash, now.Add(keep)
		}
		c.SecretHash = sum[:]
		c.UpdatedAt = now
		return nil
	})
	if err != nil {
		return SecretRotated{}, classify(err, "rotate client secret", fmt.Sprintf("client %q", in.ID))
	}
	return SecretRotated{ClientID: c.ID, ClientSecret: secret, OldSecretEnd: c.PreviousSecretExpiresAt}, nil
}
