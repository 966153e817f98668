package storagetest

import (
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

// peopleTests cover what issue 17 added: unique emails found case-insensitively,
// removing people, groups, and clients that change in place.
var peopleTests = []test{
	{"EmailUniqueFolded", testEmailUniqueFolded},
	{"EmailChangeMovesIndex", testEmailChangeMovesIndex},
	{"DeleteUser", testDeleteUser},
	{"Groups", testGroups},
	{"UpdateClient", testUpdateClient},
	{"APIs", testAPIs},
}

func testEmailUniqueFolded(t *testing.T, s storage.Store) {
	ctx := t.Context()
	a := newUser("u1", "alice")
	a.Email = "Alice@Example.org"
	must(t, s.CreateUser(ctx, a))
	got, err := s.GetUserByEmail(ctx, "alice@example.ORG")
	must(t, err)
	wantEqual(t, got.ID, "u1", "GetUserByEmail in another case")
	b := newUser("u2", "bob")
	b.Email = "ALICE@example.org"
	wantErr(t, s.CreateUser(ctx, b), storage.ErrAlreadyExists, "an email taken in another case")
	if _, err := s.GetUserByUsername(ctx, "bob"); err == nil {
		t.Error("a refused user was stored")
	}
	_, err = s.GetUserByEmail(ctx, "nobody@example.org")
	wantErr(t, err, storage.ErrNotFound, "unknown email")
	_, err = s.GetUserByEmail(ctx, "")
	wantErr(t, err, storage.ErrNotFound, "empty email")
	// People without an email do not collide.
	c, d := newUser("u3", "carol"), newUser("u4", "dave")
	c.Email, d.Email = "", ""
	must(t, s.CreateUser(ctx, c))
	must(t, s.CreateUser(ctx, d))
}

func testEmailChangeMovesIndex(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice")))
	must(t, s.CreateUser(ctx, newUser("u2", "bob")))
	_, err := s.UpdateUser(ctx, "u1", func(u *storage.User) error { u.Email = "BOB@example.org"; return nil })
	wantErr(t, err, storage.ErrAlreadyExists, "changing to another person's email")
	got, err := s.GetUser(ctx, "u1")
	must(t, err)
	wantEqual(t, got.Email, "alice@example.org", "email after a refused change")

	_, err = s.UpdateUser(ctx, "u1", func(u *storage.User) error { u.Email = "new@example.org"; return nil })
	must(t, err)
	got, err = s.GetUserByEmail(ctx, "NEW@example.org")
	must(t, err)
	wantEqual(t, got.ID, "u1", "found by the new email")
	_, err = s.GetUserByEmail(ctx, "alice@example.org")
	wantErr(t, err, storage.ErrNotFound, "the old email")
	// The old email is free again; a change of case only keeps it.
	u := newUser("u3", "carol")
	u.Email = "alice@example.org"
	must(t, s.CreateUser(ctx, u))
	_, err = s.UpdateUser(ctx, "u3", func(u *storage.User) error { u.Email = "Alice@example.org"; return nil })
	must(t, err)
	got, err = s.GetUserByEmail(ctx, "alice@example.org")
	must(t, err)
	wantEqual(t, got.ID, "u3", "after a change of case")
}

func testDeleteUser(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice")))
	must(t, s.DeleteUser(ctx, "u1"))
	_, err := s.GetUser(ctx, "u1")
	wantErr(t, err, storage.ErrNotFound, "get after delete")
	_, err = s.GetUserByUsername(ctx, "alice")
	wantErr(t, err, storage.ErrNotFound, "by username after delete")
	_, err = s.GetUserByEmail(ctx, "alice@example.org")
	wantErr(t, err, storage.ErrNotFound, "by email after delete")
	wantErr(t, s.DeleteUser(ctx, "u1"), storage.ErrNotFound, "delete twice")
	users, err := s.ListUsers(ctx)
	must(t, err)
	if len(users) != 0 {
		t.Errorf("%d users listed after delete", len(users))
	}
	// The username and the email can be used again (with a new id).
	must(t, s.CreateUser(ctx, newUser("u2", "alice")))
}

func testGroups(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, err := s.GetGroup(ctx, "admins")
	wantErr(t, err, storage.ErrNotFound, "get before create")
	for _, name := range []string{"ops", "admins"} {
		must(t, s.CreateGroup(ctx, &storage.Group{Name: name, Description: "The " + name, CreatedAt: t0}))
	}
	wantErr(t, s.CreateGroup(ctx, &storage.Group{Name: "ops"}), storage.ErrAlreadyExists, "create a taken name")
	g, err := s.GetGroup(ctx, "admins")
	must(t, err)
	wantEqual(t, g, &storage.Group{Name: "admins", Description: "The admins", CreatedAt: t0}, "group")
	list, err := s.ListGroups(ctx)
	must(t, err)
	wantIDs(t, ids(list, func(g *storage.Group) string { return g.Name }), []string{"admins", "ops"}, "groups by name")
	must(t, s.DeleteGroup(ctx, "ops"))
	wantErr(t, s.DeleteGroup(ctx, "ops"), storage.ErrNotFound, "delete twice")
	list, err = s.ListGroups(ctx)
	must(t, err)
	wantIDs(t, ids(list, func(g *storage.Group) string { return g.Name }), []string{"admins"}, "groups after delete")

	// Membership lives on the person.
	u := newUser("u1", "alice")
	u.Groups = []string{"admins"}
	must(t, s.CreateUser(ctx, u))
	got, err := s.GetUser(ctx, "u1")
	must(t, err)
	wantEqual(t, got.Groups, []string{"admins"}, "groups of a person")
}

func testUpdateClient(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, err := s.UpdateClient(ctx, "app", func(*storage.Client) error { return nil })
	wantErr(t, err, storage.ErrNotFound, "update unknown")
	must(t, s.CreateClient(ctx, newClient("app")))
	later := t0.Add(time.Hour)
	got, err := s.UpdateClient(ctx, "app", func(c *storage.Client) error {
		c.Name, c.AllowedGroups = "Renamed", []string{"admins"}
		c.PreviousSecretHash, c.PreviousSecretExpiresAt = c.SecretHash, later
		c.SecretHash = []byte{9, 9}
		return nil
	})
	must(t, err)
	stored, err := s.GetClient(ctx, "app")
	must(t, err)
	wantEqual(t, stored, got, "stored after update")
	if stored.Name != "Renamed" || len(stored.AllowedGroups) != 1 || !stored.PreviousSecretExpiresAt.Equal(later) {
		t.Errorf("update not stored: %+v", stored)
	}
	_, err = s.UpdateClient(ctx, "app", func(c *storage.Client) error { c.ID = "other"; return nil })
	if err == nil {
		t.Error("an update changed the id")
	}
	boom := storage.ErrConflict
	_, err = s.UpdateClient(ctx, "app", func(c *storage.Client) error { c.Name = "x"; return boom })
	wantErr(t, err, boom, "fn error")
	stored, _ = s.GetClient(ctx, "app")
	wantEqual(t, stored.Name, "Renamed", "name after an aborted update")
}

func testAPIs(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, err := s.GetAPI(ctx, "https://calendar.example.com")
	wantErr(t, err, storage.ErrNotFound, "get before create")
	a := &storage.API{Audience: "https://calendar.example.com", Name: "Calendar", Scopes: []string{"calendar.read"},
		IntrospectionSecretHash: []byte{1, 2}, CreatedAt: t0}
	must(t, s.CreateAPI(ctx, a))
	must(t, s.CreateAPI(ctx, &storage.API{Audience: "https://a.example.com", Name: "A", CreatedAt: t0}))
	wantErr(t, s.CreateAPI(ctx, &storage.API{Audience: a.Audience}), storage.ErrAlreadyExists, "create a taken audience")
	got, err := s.GetAPI(ctx, a.Audience)
	must(t, err)
	wantEqual(t, got, a, "api")
	list, err := s.ListAPIs(ctx)
	must(t, err)
	wantIDs(t, ids(list, func(a *storage.API) string { return a.Audience }), []string{"https://a.example.com", a.Audience}, "apis by audience")
	must(t, s.DeleteAPI(ctx, a.Audience))
	wantErr(t, s.DeleteAPI(ctx, a.Audience), storage.ErrNotFound, "delete twice")
	_, err = s.GetAPI(ctx, a.Audience)
	wantErr(t, err, storage.ErrNotFound, "get after delete")
}
