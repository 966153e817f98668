package admin

import (
	"context"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/credentials/throttle"
)

// TestUnlockClearsTwoStepBackoff: unlock clears the backoff after wrong two-step
// codes (stored on the user) and the wrong-password lock (the store's counter,
// which every server reads), says it did, and keeps the enrolment; ShowUser
// says until when a lock holds.
func TestUnlockClearsTwoStepBackoff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, st, _ := newTestService(t)
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

	// Wrong passwords counted by any server lock carol: ShowUser says until
	// when, and unlock clears it.
	until := testNow.Add(time.Minute)
	if _, err := st.UpdateThrottle(ctx, throttle.AccountStoreKey("carol"), func(c *storage.Throttle) {
		c.Failures, c.Last, c.LockedUntil, c.ExpiresAt = 5, testNow, until, until.Add(time.Hour)
	}); err != nil {
		t.Fatal(err)
	}
	if info, err := ShowUser.Call(ctx, c, "carol"); err != nil || !info.LockedUntil.Equal(until) {
		t.Fatalf("ShowUser(carol) while locked: %+v %v, want locked until %s", info, err, until)
	}
	if was, err := UnlockUser.Call(ctx, c, "carol"); err != nil || !was {
		t.Fatalf("UnlockUser(carol) while locked by wrong passwords = %v, %v; want true", was, err)
	}
	if info, err := ShowUser.Call(ctx, c, "carol"); err != nil || !info.LockedUntil.IsZero() {
		t.Fatalf("ShowUser(carol) after unlock: %+v %v", info, err)
	}
}
