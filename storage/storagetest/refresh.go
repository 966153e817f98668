package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

var refreshTests = []test{
	{"Rotate", testRotate},
	{"RotateReuse", testRotateReuse},
	{"RotateGrace", testRotateGrace},
	{"RotateGraceOutsideWindow", testRotateGraceOutsideWindow},
	{"RotateRefused", testRotateRefused},
	{"RotateConcurrent", testRotateConcurrent},
	{"RevokeFamily", testRevokeFamily},
	{"ListUserFamilies", testListUserFamilies},
	{"GetUnknown", testRefreshGetUnknown},
}

// rotation exchanges the token named old for one named next at now, issuing the
// access token "at-"+next.
func rotation(old, next string, now time.Time, grace time.Duration) storage.Rotation {
	return storage.Rotation{
		OldHash: tokenHash(old),
		Now:     now,
		Grace:   grace,
		Next:    newRefreshToken(next, "u1", now.Add(time.Hour)),
		Access:  newAccessToken("at-"+next, "u1", now.Add(10*time.Minute)),
	}
}

func familyID(f *storage.RefreshFamily) string { return f.ID }

func testRotate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	g := newGrant(t, s, "g1", "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))
	now := t0.Add(5 * time.Minute)

	r := rotation("g1", "g1-1", now, 0)
	fam, err := s.RotateRefreshToken(ctx, r)
	must(t, err)
	wantEqual(t, fam, g.fam, "family returned by rotation")
	if r.Next.FamilyID != g.fam.ID || r.Access.RefreshFamilyID != g.fam.ID {
		t.Errorf("rotation set Next.FamilyID %q and Access.RefreshFamilyID %q, want %q", r.Next.FamilyID, r.Access.RefreshFamilyID, g.fam.ID)
	}

	old, err := s.GetRefreshToken(ctx, tokenHash("g1"))
	must(t, err)
	if !old.RotatedAt.Equal(now) || old.GraceUsed {
		t.Errorf("old token: RotatedAt %s GraceUsed %v, want %s false", old.RotatedAt, old.GraceUsed, now)
	}
	next, err := s.GetRefreshToken(ctx, tokenHash("g1-1"))
	must(t, err)
	want := newRefreshToken("g1-1", "u1", now.Add(time.Hour))
	want.FamilyID = g.fam.ID
	wantEqual(t, next, want, "successor token")
	at, err := s.GetAccessToken(ctx, "at-g1-1")
	must(t, err)
	wantAT := newAccessToken("at-g1-1", "u1", now.Add(10*time.Minute))
	wantAT.RefreshFamilyID = g.fam.ID
	wantEqual(t, at, wantAT, "access token issued by rotation")

	// The successor rotates in turn.
	_, err = s.RotateRefreshToken(ctx, rotation("g1-1", "g1-2", now.Add(time.Minute), 0))
	must(t, err)
	wantFamilyRevoked(t, s, g.fam.ID, false)
}

func testRotateReuse(t *testing.T, s storage.Store) {
	ctx := t.Context()
	g := newGrant(t, s, "g1", "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))
	other := newGrant(t, s, "g2", "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))
	_, err := s.RotateRefreshToken(ctx, rotation("g1", "g1-1", t0.Add(time.Minute), 0))
	must(t, err)
	_, err = s.RotateRefreshToken(ctx, rotation("g1-1", "g1-2", t0.Add(2*time.Minute), 0))
	must(t, err)

	// g1 was rotated: presenting it again is a reuse, with or without a grace window
	// that has passed.
	_, err = s.RotateRefreshToken(ctx, rotation("g1", "g1-x", t0.Add(3*time.Minute), 10*time.Second))
	wantErr(t, err, storage.ErrReused, "rotation of a rotated token")
	wantFamilyRevoked(t, s, g.fam.ID, true)
	wantRevoked(t, s, true, "at-g1-1", "at-g1-2")
	_, err = s.GetRefreshToken(ctx, tokenHash("g1-x"))
	wantErr(t, err, storage.ErrNotFound, "successor offered with a reused token")
	_, err = s.GetAccessToken(ctx, "at-g1-x")
	wantErr(t, err, storage.ErrNotFound, "access token offered with a reused token")

	// The newest token of the family no longer works, and the reuse is not news.
	_, err = s.RotateRefreshToken(ctx, rotation("g1-2", "g1-3", t0.Add(4*time.Minute), 0))
	wantErr(t, err, storage.ErrNotFound, "rotation of the newest token of a revoked family")
	_, err = s.RotateRefreshToken(ctx, rotation("g1", "g1-y", t0.Add(5*time.Minute), 0))
	wantErr(t, err, storage.ErrNotFound, "reuse in a family already revoked")

	// Other families are untouched.
	wantFamilyRevoked(t, s, other.fam.ID, false)
	_, err = s.RotateRefreshToken(ctx, rotation("g2", "g2-1", t0.Add(5*time.Minute), 0))
	must(t, err)
}

func testRotateGrace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	g := newGrant(t, s, "g1", "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))
	const grace = 10 * time.Second
	first := t0.Add(time.Minute)
	_, err := s.RotateRefreshToken(ctx, rotation("g1", "lost", first, grace))
	must(t, err)

	// The response carrying "lost" never arrived; the client retries within grace.
	_, err = s.RotateRefreshToken(ctx, rotation("g1", "retry", first.Add(grace), grace))
	must(t, err)
	old, err := s.GetRefreshToken(ctx, tokenHash("g1"))
	must(t, err)
	if !old.GraceUsed || !old.RotatedAt.Equal(first) {
		t.Errorf("token exchanged in grace: GraceUsed %v RotatedAt %s, want true %s", old.GraceUsed, old.RotatedAt, first)
	}
	lost, err := s.GetRefreshToken(ctx, tokenHash("lost"))
	must(t, err)
	if lost.RotatedAt.IsZero() {
		t.Error("the successor replaced in grace is not marked rotated")
	}
	wantFamilyRevoked(t, s, g.fam.ID, false)

	// Only once: a third presentation, even inside the window, is a reuse.
	_, err = s.RotateRefreshToken(ctx, rotation("g1", "third", first.Add(grace/2), grace))
	wantErr(t, err, storage.ErrReused, "third presentation inside the grace window")
	wantFamilyRevoked(t, s, g.fam.ID, true)
	wantRevoked(t, s, true, "at-lost", "at-retry")
}

func testRotateGraceOutsideWindow(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const grace = 10 * time.Second
	first := t0.Add(time.Minute)
	for _, tc := range []struct {
		name string
		// after is when the second presentation comes, after the first rotation.
		after time.Duration
		// newest is presented after the second presentation.
		want, newest error
	}{
		{"inside", grace, nil, nil},
		{"outside", grace + time.Second, storage.ErrReused, storage.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGrant(t, s, tc.name, "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))
			_, err := s.RotateRefreshToken(ctx, rotation(tc.name, tc.name+"-1", first, grace))
			must(t, err)
			_, err = s.RotateRefreshToken(ctx, rotation(tc.name, tc.name+"-2", first.Add(tc.after), grace))
			if !errors.Is(err, tc.want) {
				t.Fatalf("second presentation %s after rotation: got %v, want %v", tc.after, err, tc.want)
			}
			wantFamilyRevoked(t, s, g.fam.ID, tc.want != nil)
			if tc.want == nil {
				// The token issued in grace is the one that works now.
				_, err = s.RotateRefreshToken(ctx, rotation(tc.name+"-2", tc.name+"-3", first.Add(tc.after+time.Minute), grace))
			} else {
				_, err = s.RotateRefreshToken(ctx, rotation(tc.name+"-1", tc.name+"-3", first.Add(tc.after+time.Minute), grace))
			}
			if !errors.Is(err, tc.newest) {
				t.Fatalf("presenting the newest token: got %v, want %v", err, tc.newest)
			}
		})
	}
}

func testRotateRefused(t *testing.T, s storage.Store) {
	ctx := t.Context()
	famEnd, idleEnd := t0.Add(2*time.Hour), t0.Add(time.Hour)
	for i, tc := range []struct {
		name string
		// present prepares the grant and returns the name of the token to present.
		present func(t *testing.T, g *grant) string
		now     time.Time
		revoked bool
	}{
		{"unknown token", func(*testing.T, *grant) string { return "unknown" }, t0, false},
		{"idle expiry", func(_ *testing.T, g *grant) string { return g.name }, idleEnd, false},
		{"after idle expiry", func(_ *testing.T, g *grant) string { return g.name }, idleEnd.Add(time.Minute), false},
		{"absolute expiry", func(t *testing.T, g *grant) string {
			// A successor whose idle lifetime outlives the family.
			r := rotation(g.name, g.name+"-late", t0, 0)
			r.Next.ExpiresAt = famEnd.Add(time.Hour)
			_, err := s.RotateRefreshToken(ctx, r)
			must(t, err)
			return g.name + "-late"
		}, famEnd, false},
		{"revoked family", func(t *testing.T, g *grant) string {
			must(t, s.RevokeRefreshFamily(ctx, g.fam.ID))
			return g.name
		}, t0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGrant(t, s, fmt.Sprint("g", i), "u1", famEnd, idleEnd)
			present := tc.present(t, g)
			r := rotation(present, present+"-next", tc.now, time.Minute)
			_, err := s.RotateRefreshToken(ctx, r)
			wantErr(t, err, storage.ErrNotFound, "rotation")
			_, err = s.GetRefreshToken(ctx, r.Next.Hash)
			wantErr(t, err, storage.ErrNotFound, "successor of a refused rotation")
			_, err = s.GetAccessToken(ctx, r.Access.ID)
			wantErr(t, err, storage.ErrNotFound, "access token of a refused rotation")
			// Expiry is not reuse: it revokes nothing.
			wantFamilyRevoked(t, s, g.fam.ID, tc.revoked)
		})
	}
}

func testRotateConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	g := newGrant(t, s, "g1", "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))

	const n = 10
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := rotation("g1", fmt.Sprint("next-", i), t0.Add(time.Minute), 0)
			<-start
			_, errs[i] = s.RotateRefreshToken(ctx, r)
		})
	}
	close(start)
	wg.Wait()

	succeeded, reused := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			succeeded++
		case errors.Is(err, storage.ErrReused):
			reused++
		case errors.Is(err, storage.ErrNotFound):
			// After the first reuse revoked the family.
		default:
			t.Errorf("rotation %d: unexpected error %v", i, err)
		}
	}
	if succeeded != 1 || reused == 0 {
		t.Errorf("concurrent rotations: %d succeeded and %d were reuses; want exactly 1 success and at least one reuse", succeeded, reused)
	}
	// The losers presented a rotated token without grace: the family is revoked.
	wantFamilyRevoked(t, s, g.fam.ID, true)
}

func testRevokeFamily(t *testing.T, s storage.Store) {
	ctx := t.Context()
	g := newGrant(t, s, "g1", "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))
	other := newGrant(t, s, "g2", "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))
	_, err := s.RotateRefreshToken(ctx, rotation("g1", "g1-1", t0.Add(time.Minute), 0))
	must(t, err)
	_, err = s.RotateRefreshToken(ctx, rotation("g1-1", "g1-2", t0.Add(2*time.Minute), 0))
	must(t, err)
	_, err = s.RotateRefreshToken(ctx, rotation("g2", "g2-1", t0.Add(2*time.Minute), 0))
	must(t, err)
	wantRevoked(t, s, false, "at-g1-1", "at-g1-2")

	must(t, s.RevokeRefreshFamily(ctx, g.fam.ID))
	wantFamilyRevoked(t, s, g.fam.ID, true)
	wantRevoked(t, s, true, "at-g1-1", "at-g1-2")
	_, err = s.RotateRefreshToken(ctx, rotation("g1-2", "g1-3", t0.Add(3*time.Minute), 0))
	wantErr(t, err, storage.ErrNotFound, "rotation in a revoked family")

	// An access token linked to the family later still reads as revoked.
	late := newAccessToken("late", "u1", t0.Add(time.Hour))
	late.RefreshFamilyID = g.fam.ID
	must(t, s.CreateAccessToken(ctx, late))
	wantRevoked(t, s, true, "late")

	wantFamilyRevoked(t, s, other.fam.ID, false)
	wantRevoked(t, s, false, "at-g2-1", other.at.ID)
	wantErr(t, s.RevokeRefreshFamily(ctx, "fam-unknown"), storage.ErrNotFound, "revoke an unknown family")
}

func testListUserFamilies(t *testing.T, s storage.Store) {
	ctx := t.Context()
	newGrant(t, s, "b", "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))
	a := newGrant(t, s, "a", "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))
	newGrant(t, s, "c", "u2", t0.Add(24*time.Hour), t0.Add(time.Hour))
	newGrant(t, s, "d", "u10", t0.Add(24*time.Hour), t0.Add(time.Hour))
	must(t, s.RevokeRefreshFamily(ctx, a.fam.ID))

	for _, tc := range []struct {
		user string
		want []string
	}{
		{"u1", []string{"fam-a", "fam-b"}},
		{"u2", []string{"fam-c"}},
		{"u10", []string{"fam-d"}},
		{"nobody", nil},
	} {
		list, err := s.ListUserFamilies(ctx, tc.user)
		must(t, err)
		got := ids(list, familyID)
		slices.Sort(got)
		wantIDs(t, got, tc.want, "ListUserFamilies("+tc.user+")")
		for _, f := range list {
			if f.Revoked != (f.ID == a.fam.ID) {
				t.Errorf("listed family %s: Revoked = %v", f.ID, f.Revoked)
			}
		}
	}
}

func testRefreshGetUnknown(t *testing.T, s storage.Store) {
	_, err := s.GetRefreshToken(t.Context(), tokenHash("unknown"))
	wantErr(t, err, storage.ErrNotFound, "GetRefreshToken")
	_, err = s.GetRefreshFamily(t.Context(), "unknown")
	wantErr(t, err, storage.ErrNotFound, "GetRefreshFamily")
}
