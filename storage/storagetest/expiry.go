package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

var expiryTests = []test{
	{"Limit", testDeleteExpiredLimit},
	{"AllKinds", testDeleteExpiredAllKinds},
	{"JWTState", testDeleteExpiredJWTState},
}

// testDeleteExpiredJWTState: what judges JWT access tokens (which have no
// record) lives exactly as long as they can: a revoked jti until its expiry,
// and a family past its absolute expiry until KeepUntil, its Revoked state
// readable until then.
func testDeleteExpiredJWTState(t *testing.T, s storage.Store) {
	ctx := t.Context()
	past, future := t0.Add(-time.Minute), t0.Add(time.Hour)
	must(t, s.RevokeJWT(ctx, "jti-old", past))
	must(t, s.RevokeJWT(ctx, "jti-live", future))

	gone := newGrant(t, s, "gone", "u1", t0.Add(-time.Second), past)
	// KeepUntil comes with the family's creation: a code redemption.
	must(t, s.CreateAuthRequest(ctx, doneAuthRequest("req-held", "u1")))
	must(t, s.IssueCode(ctx, "req-held", codeHash("held"), t0.Add(time.Minute)))
	held := newFamily("fam-held", "u1", t0.Add(-time.Second))
	held.KeepUntil = future
	heldRT := newRefreshToken("held", "u1", past)
	must(t, s.RedeemCode(ctx, codeHash("held"), newJWT("jwt-held", future), held, heldRT))
	must(t, s.RevokeRefreshFamily(ctx, held.ID))

	janitor(t, s, t0, 10)
	wantJWTRevoked(t, s, "jti-old", false)
	wantJWTRevoked(t, s, "jti-live", true)
	_, err := s.GetRefreshFamily(ctx, gone.fam.ID)
	wantErr(t, err, storage.ErrNotFound, "family past its expiry without KeepUntil")
	wantFamilyRevoked(t, s, held.ID, true)
	_, err = s.GetRefreshToken(ctx, heldRT.Hash)
	wantErr(t, err, storage.ErrNotFound, "idle-expired refresh token of a kept family")

	janitor(t, s, future, 10)
	_, err = s.GetRefreshFamily(ctx, held.ID)
	wantErr(t, err, storage.ErrNotFound, "family after KeepUntil")
	wantJWTRevoked(t, s, "jti-live", false)
}

// janitor calls DeleteExpired like the server's janitor: until it returns fewer than
// limit. It checks each call stays within limit and returns the total.
func janitor(t *testing.T, s storage.Store, now time.Time, limit int) (total int, calls []int) {
	t.Helper()
	for range 100 {
		n, err := s.DeleteExpired(t.Context(), now, limit)
		must(t, err)
		if n < 0 || n > limit {
			t.Fatalf("DeleteExpired(limit %d) = %d", limit, n)
		}
		total += n
		calls = append(calls, n)
		if n < limit {
			return total, calls
		}
	}
	t.Fatalf("DeleteExpired still busy after 100 calls: %v", calls)
	return 0, nil
}

func testDeleteExpiredLimit(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for i := range 5 {
		must(t, s.CreateSession(ctx, newSession(fmt.Sprint("old-", i), "u1", t0.Add(-time.Duration(i+1)*time.Hour))))
	}
	must(t, s.CreateSession(ctx, newSession("live", "u1", t0.Add(time.Hour))))

	if n, err := s.DeleteExpired(ctx, t0.Add(-6*time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("DeleteExpired before anything expired = %d, %v; want 0", n, err)
	}
	total, calls := janitor(t, s, t0, 2)
	if !slices.Equal(calls, []int{2, 2, 1}) {
		t.Errorf("DeleteExpired(limit 2) calls returned %v, want [2 2 1]", calls)
	}
	if total != 5 {
		t.Errorf("deleted %d sessions, want 5", total)
	}
	list, err := s.ListUserSessions(ctx, "u1")
	must(t, err)
	wantIDs(t, ids(list, sessionID), []string{"live"}, "sessions left")
	if n, err := s.DeleteExpired(ctx, t0, 2); err != nil || n != 0 {
		t.Errorf("DeleteExpired with nothing left = %d, %v; want 0", n, err)
	}
}

// testDeleteExpiredAllKinds builds one store with expired and live records of every
// kind, including records whose expiry an update moved, runs the janitor and checks
// what is left, through the records and through their indexes.
func testDeleteExpiredAllKinds(t *testing.T, s storage.Store) {
	ctx := t.Context()
	past, future := t0.Add(-time.Minute), t0.Add(time.Hour)

	// Sessions, two of them with an expiry moved by UpdateSession.
	must(t, s.CreateSession(ctx, newSession("s-old", "u1", past)))
	must(t, s.CreateSession(ctx, newSession("s-live", "u1", future)))
	must(t, s.CreateSession(ctx, newSession("s-extended", "u1", past)))
	must(t, s.CreateSession(ctx, newSession("s-shortened", "u1", future)))
	_, err := s.UpdateSession(ctx, "s-extended", func(sess *storage.Session) error { sess.ExpiresAt = future; return nil })
	must(t, err)
	_, err = s.UpdateSession(ctx, "s-shortened", func(sess *storage.Session) error { sess.ExpiresAt = past; return nil })
	must(t, err)

	// Auth requests: the record lives until both the request and its code expired.
	newReq := func(id string, done bool, expires time.Time) {
		a := newAuthRequest(id)
		if done {
			a = doneAuthRequest(id, "")
		}
		a.ExpiresAt = expires
		must(t, s.CreateAuthRequest(ctx, a))
	}
	newReq("r-old", false, past)
	newReq("r-code-old", true, t0.Add(-2*time.Minute))
	must(t, s.IssueCode(ctx, "r-code-old", codeHash("r-code-old"), past))
	newReq("r-code-live", true, t0.Add(-2*time.Minute))
	must(t, s.IssueCode(ctx, "r-code-live", codeHash("r-code-live"), t0.Add(time.Minute)))
	newReq("r-extended", false, past)
	_, err = s.UpdateAuthRequest(ctx, "r-extended", func(a *storage.AuthRequest) error { a.ExpiresAt = future; return nil })
	must(t, err)

	// Access tokens.
	must(t, s.CreateAccessToken(ctx, newAccessToken("at-old", "u1", past)))
	must(t, s.CreateAccessToken(ctx, newAccessToken("at-live", "u1", future)))

	// A family past its absolute expiry with two live refresh tokens, and a live
	// family whose only refresh token is idle-expired.
	famOld := newGrant(t, s, "fam-old", "u1", t0.Add(-time.Second), t0.Add(2*time.Hour))
	r := rotation("fam-old", "fam-old-1", t0.Add(-time.Hour), 0)
	r.Next.ExpiresAt, r.Access.ExpiresAt = t0.Add(2*time.Hour), future
	_, err = s.RotateRefreshToken(ctx, r)
	must(t, err)
	famLive := newGrant(t, s, "fam-live", "u1", t0.Add(24*time.Hour), t0.Add(-time.Second))
	// A revoked family past its absolute expiry: its live access token must stay
	// revoked after the family record is gone.
	famRevoked := newGrant(t, s, "fam-revoked", "u1", t0.Add(-time.Second), t0.Add(2*time.Hour))
	r = rotation("fam-revoked", "fam-revoked-1", t0.Add(-time.Hour), 0)
	r.Access.ExpiresAt = future
	_, err = s.RotateRefreshToken(ctx, r)
	must(t, err)
	must(t, s.RevokeRefreshFamily(ctx, famRevoked.fam.ID))
	late := newAccessToken("at-late", "u1", future)
	late.RefreshFamilyID = famRevoked.fam.ID
	must(t, s.CreateAccessToken(ctx, late))

	// Limit 3 makes the janitor take several calls.
	if total, _ := janitor(t, s, t0, 3); total == 0 {
		t.Fatal("DeleteExpired deleted nothing")
	}

	gone := map[string]func() error{
		"session s-old":       func() error { _, err := s.GetSession(ctx, "s-old"); return err },
		"session s-shortened": func() error { _, err := s.GetSession(ctx, "s-shortened"); return err },
		"request r-old":       func() error { _, err := s.GetAuthRequest(ctx, "r-old"); return err },
		"request r-code-old":  func() error { _, err := s.GetAuthRequest(ctx, "r-code-old"); return err },
		"code of r-code-old":  func() error { _, err := s.GetAuthRequestByCode(ctx, codeHash("r-code-old")); return err },
		"access token at-old": func() error { _, err := s.GetAccessToken(ctx, "at-old"); return err },
		"expired family":      func() error { _, err := s.GetRefreshFamily(ctx, famOld.fam.ID); return err },
		"first token of the expired family": func() error {
			_, err := s.GetRefreshToken(ctx, famOld.rt.Hash)
			return err
		},
		"second token of the expired family": func() error {
			_, err := s.GetRefreshToken(ctx, tokenHash("fam-old-1"))
			return err
		},
		"idle-expired token":     func() error { _, err := s.GetRefreshToken(ctx, famLive.rt.Hash); return err },
		"expired revoked family": func() error { _, err := s.GetRefreshFamily(ctx, famRevoked.fam.ID); return err },
	}
	for what, get := range gone {
		wantErr(t, get(), storage.ErrNotFound, what+" after DeleteExpired")
	}
	kept := map[string]func() error{
		"session s-live":      func() error { _, err := s.GetSession(ctx, "s-live"); return err },
		"session s-extended":  func() error { _, err := s.GetSession(ctx, "s-extended"); return err },
		"code of r-code-live": func() error { _, err := s.GetAuthRequestByCode(ctx, codeHash("r-code-live")); return err },
		"request r-extended":  func() error { _, err := s.GetAuthRequest(ctx, "r-extended"); return err },
		"access token at-live": func() error {
			_, err := s.GetAccessToken(ctx, "at-live")
			return err
		},
		"live family": func() error { _, err := s.GetRefreshFamily(ctx, famLive.fam.ID); return err },
		// The expired family's access tokens live out their own lifetime, unrevoked.
		"access tokens of the expired family": func() error {
			for _, id := range []string{famOld.at.ID, "at-fam-old-1"} {
				at, err := s.GetAccessToken(ctx, id)
				if err != nil {
					return err
				}
				if at.Revoked {
					return fmt.Errorf("%s revoked", id)
				}
			}
			return nil
		},
		"access tokens of the expired revoked family": func() error {
			for _, id := range []string{"at-fam-revoked-1", "at-late"} {
				at, err := s.GetAccessToken(ctx, id)
				if err != nil {
					return err
				}
				if !at.Revoked {
					return fmt.Errorf("%s not revoked", id)
				}
			}
			return nil
		},
	}
	for what, get := range kept {
		if err := get(); err != nil {
			t.Errorf("%s after DeleteExpired: %v", what, err)
		}
	}

	sessions, err := s.ListUserSessions(ctx, "u1")
	must(t, err)
	got := ids(sessions, sessionID)
	slices.Sort(got)
	wantIDs(t, got, []string{"s-extended", "s-live"}, "ListUserSessions after DeleteExpired")
	families, err := s.ListUserFamilies(ctx, "u1")
	must(t, err)
	wantIDs(t, ids(families, familyID), []string{famLive.fam.ID}, "ListUserFamilies after DeleteExpired")

	if n, err := s.DeleteExpired(ctx, t0, 3); err != nil || n != 0 {
		t.Errorf("second janitor run = %d, %v; want 0", n, err)
	}
}
