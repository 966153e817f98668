package admin

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

// TestUnlockClearsTwoStepBackoff: unlock clears the backoff after wrong two-step
// codes (stored on the user) as well as the password throttle (the server's),
// says it did, and keeps the enrolment; with no server it still clears the
// backoff.
func TestUnlockClearsTwoStepBackoff(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		server bool
	}{{"server", true}, {"no server", false}} {
		t.Run(tc.name, func(t *testing.T) {
			var unlocked []string
			svc, st, _ := newTestService(t, func(c *Config) {
				if tc.server {
					// The password throttle has nothing on carol.
					c.Lockouts = recordLockouts{&unlocked}
				}
			})
			if _, err := svc.AddUser(ctx, AddUserInput{Username: "carol", Email: "carol@example.com", Password: "correct horse battery"}); err != nil {
				t.Fatal(err)
			}
			u, _ := st.GetUserByUsername(ctx, "carol")
			// Three wrong codes: backing off for 15 s.
			if _, err := st.UpdateUser(ctx, u.ID, func(u *storage.User) error {
				u.TOTP.Secret, u.TOTP.EnrolledAt, u.TOTP.LastStep = []byte("sealed secret"), testNow, 42
				u.TOTP.Failures, u.TOTP.LockedUntil = 3, testNow.Add(15*time.Second)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			c, _ := serveSocket(t, svc)
			was, err := UnlockUser.Call(ctx, c, "carol")
			if err != nil || !was {
				t.Fatalf("UnlockUser(carol) with a two-step backoff = %v, %v; want true", was, err)
			}
			u, _ = st.GetUserByUsername(ctx, "carol")
			if u.TOTP.Failures != 0 || !u.TOTP.LockedUntil.IsZero() {
				t.Errorf("after unlock: %d code failures, locked until %s", u.TOTP.Failures, u.TOTP.LockedUntil)
			}
			if string(u.TOTP.Secret) != "sealed secret" || u.TOTP.LastStep != 42 {
				t.Errorf("unlock changed the enrolment: %+v", u.TOTP)
			}
			if was, err := UnlockUser.Call(ctx, c, "carol"); err != nil || was {
				t.Errorf("second UnlockUser(carol) = %v, %v; want false", was, err)
			}
			if tc.server && !slices.Equal(unlocked, []string{"carol", "carol"}) {
				t.Errorf("password throttle unlocked %q, want carol twice", unlocked)
			}
		})
	}
}

// recordLockouts records the keys it is asked to forget, and had none.
type recordLockouts struct{ keys *[]string }

func (r recordLockouts) Forget(key string) bool { *r.keys = append(*r.keys, key); return false }
