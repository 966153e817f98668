package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

var userTests = []test{
	{"CreateGet", testUserCreateGet},
	{"Duplicates", testUserDuplicates},
	{"List", testUserList},
	{"Update", testUserUpdate},
	{"UpdateErrorAborts", testUserUpdateErrorAborts},
	{"UpdateKeepsUsername", testUserUpdateKeepsUsername},
	{"TOTPRoundTrip", testUserTOTPRoundTrip},
	{"TOTPStepOnce", testUserTOTPStepOnce},
}

func newUser(id, username string) *storage.User {
	return &storage.User{
		ID:            id,
		Username:      username,
		Email:         username + "@example.org",
		EmailVerified: true,
		Name:          "Person " + username,
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		CreatedAt:     t0,
		UpdatedAt:     t0,
	}
}

func userID(u *storage.User) string { return u.ID }

func testUserCreateGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "alice")
	must(t, s.CreateUser(ctx, u))

	got, err := s.GetUser(ctx, "u1")
	must(t, err)
	wantEqual(t, got, u, "GetUser")
	got, err = s.GetUserByUsername(ctx, "alice")
	must(t, err)
	wantEqual(t, got, u, "GetUserByUsername")

	_, err = s.GetUser(ctx, "u2")
	wantErr(t, err, storage.ErrNotFound, "GetUser unknown")
	_, err = s.GetUserByUsername(ctx, "bob")
	wantErr(t, err, storage.ErrNotFound, "GetUserByUsername unknown")
	_, err = s.GetUserByUsername(ctx, "u1")
	wantErr(t, err, storage.ErrNotFound, "GetUserByUsername with an id")
	_, err = s.UpdateUser(ctx, "u2", func(*storage.User) error { return nil })
	wantErr(t, err, storage.ErrNotFound, "UpdateUser unknown")
}

func testUserDuplicates(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice")))
	for _, tc := range []struct {
		name string
		user *storage.User
	}{
		{"same id", newUser("u1", "bob")},
		{"same username", newUser("u2", "alice")},
		{"same both", newUser("u1", "alice")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, s.CreateUser(ctx, tc.user), storage.ErrAlreadyExists, "CreateUser")
		})
	}
	// The refused creates left nothing behind.
	_, err := s.GetUser(ctx, "u2")
	wantErr(t, err, storage.ErrNotFound, "GetUser of a refused create")
	_, err = s.GetUserByUsername(ctx, "bob")
	wantErr(t, err, storage.ErrNotFound, "GetUserByUsername of a refused create")
	got, err := s.GetUserByUsername(ctx, "alice")
	must(t, err)
	wantEqual(t, got, newUser("u1", "alice"), "original user")
	list, err := s.ListUsers(ctx)
	must(t, err)
	wantIDs(t, ids(list, userID), []string{"u1"}, "ListUsers")
}

func testUserList(t *testing.T, s storage.Store) {
	ctx := t.Context()
	list, err := s.ListUsers(ctx)
	must(t, err)
	wantIDs(t, ids(list, userID), nil, "empty store")
	// Id order differs from username order.
	must(t, s.CreateUser(ctx, newUser("u1", "carol")))
	must(t, s.CreateUser(ctx, newUser("u2", "alice")))
	must(t, s.CreateUser(ctx, newUser("u3", "bob")))
	list, err = s.ListUsers(ctx)
	must(t, err)
	wantIDs(t, ids(list, userID), []string{"u2", "u3", "u1"}, "ListUsers (by username)")
	wantEqual(t, list[0], newUser("u2", "alice"), "listed user")
}

func testUserUpdate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice")))
	want := newUser("u1", "alice")
	want.Email, want.EmailVerified, want.Disabled, want.UpdatedAt = "new@example.org", false, true, t0.Add(time.Hour)

	got, err := s.UpdateUser(ctx, "u1", func(u *storage.User) error {
		wantEqual(t, u, newUser("u1", "alice"), "user given to fn")
		u.Email, u.EmailVerified, u.Disabled, u.UpdatedAt = want.Email, want.EmailVerified, want.Disabled, want.UpdatedAt
		return nil
	})
	must(t, err)
	wantEqual(t, got, want, "UpdateUser result")
	stored, err := s.GetUser(ctx, "u1")
	must(t, err)
	wantEqual(t, stored, want, "stored user")
	stored, err = s.GetUserByUsername(ctx, "alice")
	must(t, err)
	wantEqual(t, stored, want, "stored user by username")
}

func testUserUpdateErrorAborts(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice")))
	_, err := s.UpdateUser(ctx, "u1", func(u *storage.User) error {
		u.Disabled = true
		u.PasswordHash = "changed"
		return errBoom
	})
	wantErr(t, err, errBoom, "UpdateUser with a failing fn")
	got, err := s.GetUser(ctx, "u1")
	must(t, err)
	wantEqual(t, got, newUser("u1", "alice"), "user after an aborted update")
}

// UpdateUser's fn must not change the username; whether a backend refuses such an
// update or ignores the change, the username index must stay right.
func testUserUpdateKeepsUsername(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice")))
	must(t, s.CreateUser(ctx, newUser("u2", "bob")))
	_, _ = s.UpdateUser(ctx, "u1", func(u *storage.User) error {
		u.Username = "bob"
		return nil
	})
	_, _ = s.UpdateUser(ctx, "u1", func(u *storage.User) error {
		u.Username = "mallory"
		return nil
	})
	for username, id := range map[string]string{"alice": "u1", "bob": "u2"} {
		got, err := s.GetUserByUsername(ctx, username)
		must(t, err)
		if got.ID != id || got.Username != username {
			t.Errorf("GetUserByUsername(%q) = %s/%s, want %s/%s", username, got.ID, got.Username, id, username)
		}
	}
	_, err := s.GetUserByUsername(ctx, "mallory")
	wantErr(t, err, storage.ErrNotFound, "GetUserByUsername of a name fn tried to set")
}

// The second-factor state is stored and returned as it was set, and cleared again.
func testUserTOTPRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice")))
	want := newUser("u1", "alice")
	want.TOTP = storage.TOTP{
		Secret:        []byte{1, 2, 3, 0, 255},
		EnrolledAt:    t0,
		LastStep:      t0.Unix() / 30,
		RecoveryCodes: []string{"aa", "bb", "cc"},
		Failures:      4,
		LockedUntil:   t0.Add(time.Minute),
		PendingSecret: []byte{9, 8, 7},
		PendingSince:  t0.Add(-time.Minute),
	}
	_, err := s.UpdateUser(ctx, "u1", func(u *storage.User) error {
		u.TOTP = want.TOTP
		return nil
	})
	must(t, err)
	got, err := s.GetUser(ctx, "u1")
	must(t, err)
	wantEqual(t, got, want, "user with TOTP")
	if !got.TOTP.Enrolled() {
		t.Errorf("Enrolled() = false with a secret")
	}
	got, err = s.GetUserByUsername(ctx, "alice")
	must(t, err)
	wantEqual(t, got, want, "user with TOTP by username")

	_, err = s.UpdateUser(ctx, "u1", func(u *storage.User) error {
		u.TOTP = storage.TOTP{}
		return nil
	})
	must(t, err)
	got, err = s.GetUser(ctx, "u1")
	must(t, err)
	wantEqual(t, got, newUser("u1", "alice"), "user after clearing TOTP")
	if got.TOTP.Enrolled() {
		t.Errorf("Enrolled() = true after clearing")
	}
}

// Accepting a time step is a read-modify-write inside UpdateUser: of concurrent
// updates that each accept the same step only if it is newer than the stored one,
// exactly one succeeds (the replay protection of one-time codes relies on it).
func testUserTOTPStepOnce(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice")))
	const step = 1000
	errReplay := errors.New("step already used")
	var wg sync.WaitGroup
	results := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateUser(ctx, "u1", func(u *storage.User) error {
				if u.TOTP.LastStep >= step {
					return errReplay
				}
				u.TOTP.LastStep = step
				u.TOTP.Failures++
				return nil
			})
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, errReplay):
			t.Errorf("UpdateUser: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent updates accepted the step, want 1", ok)
	}
	got, err := s.GetUser(ctx, "u1")
	must(t, err)
	if got.TOTP.LastStep != step || got.TOTP.Failures != 1 {
		t.Errorf("stored LastStep %d, Failures %d; want %d, 1", got.TOTP.LastStep, got.TOTP.Failures, step)
	}
}
