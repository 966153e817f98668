package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

var codeTests = []test{
	{"RedeemUnknown", testRedeemUnknown},
	{"Redeem", testRedeem},
	{"RedeemReplay", testRedeemReplay},
	{"RedeemReplayWithoutFamily", testRedeemReplayWithoutFamily},
	{"RedeemRecordsSessionClient", testRedeemRecordsSessionClient},
	{"RedeemFailureLeavesCodeUnused", testRedeemFailureLeavesCodeUnused},
	{"RedeemConcurrent", testRedeemConcurrent},
	{"RedeemJWT", testRedeemJWT},
	{"RotateJWT", testRotateJWT},
	{"ManyWritersAtOnce", testManyWritersAtOnce},
}

var accessTokenTests = []test{
	{"CreateGetRevoke", testAccessTokenCreateGetRevoke},
	{"RevokedJWTs", testRevokedJWTs},
}

// newJWT describes a JWT access token: storage keeps no record of it.
func newJWT(id string, expiresAt time.Time) *storage.AccessToken {
	at := newAccessToken(id, "u1", expiresAt)
	at.JWT = true
	return at
}

// A JWT access token issued by a code leaves no record; a replay of the code
// puts its jti on the revoked list and revokes the family (which the token
// names, and which its holders look up).
func testRedeemJWT(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, doneAuthRequest("r1", "u1")))
	must(t, s.IssueCode(ctx, "r1", codeHash("r1"), t0.Add(time.Minute)))
	at := newJWT("jwt-1", t0.Add(10*time.Minute))
	fam := newFamily("fam-1", "u1", t0.Add(24*time.Hour))
	rt := newRefreshToken("rt-1", "u1", t0.Add(time.Hour))
	must(t, s.RedeemCode(ctx, codeHash("r1"), at, fam, rt))
	if at.RefreshFamilyID != fam.ID {
		t.Errorf("JWT's RefreshFamilyID = %q, want %q", at.RefreshFamilyID, fam.ID)
	}
	_, err := s.GetAccessToken(ctx, "jwt-1")
	wantErr(t, err, storage.ErrNotFound, "record of a JWT access token")
	req, err := s.GetAuthRequest(ctx, "r1")
	must(t, err)
	if req.IssuedAccessTokenID != "jwt-1" || !req.IssuedAccessTokenExpiresAt.Equal(at.ExpiresAt) || req.IssuedRefreshFamilyID != fam.ID {
		t.Errorf("request issued %q (until %s) and %q; want jwt-1 (until %s) and %s",
			req.IssuedAccessTokenID, req.IssuedAccessTokenExpiresAt, req.IssuedRefreshFamilyID, at.ExpiresAt, fam.ID)
	}
	wantJWTRevoked(t, s, "jwt-1", false)

	err = s.RedeemCode(ctx, codeHash("r1"), newJWT("jwt-2", t0.Add(10*time.Minute)), nil, nil)
	wantErr(t, err, storage.ErrReused, "RedeemCode of a used code")
	wantJWTRevoked(t, s, "jwt-1", true)
	wantJWTRevoked(t, s, "jwt-2", false)
	wantFamilyRevoked(t, s, fam.ID, true)
}

// A rotation issuing a JWT access token stores no record of it and tells the
// caller its family.
func testRotateJWT(t *testing.T, s storage.Store) {
	ctx := t.Context()
	g := newGrant(t, s, "g1", "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))
	r := rotation("g1", "g1-1", t0.Add(time.Minute), 0)
	r.Access.JWT = true
	_, err := s.RotateRefreshToken(ctx, r)
	must(t, err)
	if r.Access.RefreshFamilyID != g.fam.ID {
		t.Errorf("JWT's RefreshFamilyID = %q, want %q", r.Access.RefreshFamilyID, g.fam.ID)
	}
	_, err = s.GetAccessToken(ctx, r.Access.ID)
	wantErr(t, err, storage.ErrNotFound, "record of a JWT access token")
	if _, err := s.GetRefreshToken(ctx, r.Next.Hash); err != nil {
		t.Errorf("successor of a rotation issuing a JWT: %v", err)
	}
}

func wantJWTRevoked(t *testing.T, s storage.Store, jti string, want bool) {
	t.Helper()
	got, err := s.JWTRevoked(t.Context(), jti)
	must(t, err)
	if got != want {
		t.Errorf("JWTRevoked(%s) = %v, want %v", jti, got, want)
	}
}

func testRevokedJWTs(t *testing.T, s storage.Store) {
	ctx := t.Context()
	wantJWTRevoked(t, s, "j1", false)
	must(t, s.RevokeJWT(ctx, "j1", t0.Add(10*time.Minute)))
	wantJWTRevoked(t, s, "j1", true)
	wantJWTRevoked(t, s, "j2", false)
	must(t, s.RevokeJWT(ctx, "j1", t0.Add(10*time.Minute))) // revoking twice is harmless
	wantJWTRevoked(t, s, "j1", true)
	// The list is not the records: a JWT never has one.
	_, err := s.GetAccessToken(ctx, "j1")
	wantErr(t, err, storage.ErrNotFound, "record of a revoked JWT")
}

func newAccessToken(id, userID string, expiresAt time.Time) *storage.AccessToken {
	return &storage.AccessToken{
		ID:         id,
		ClientID:   "app",
		UserID:     userID,
		Scopes:     []string{"openid", "profile"},
		Audience:   []string{"app", "https://api.example"},
		SessionSID: "sid-1",
		AuthTime:   t0.Add(-time.Minute),
		AMR:        []string{"pwd"},
		IssuedAt:   t0,
		ExpiresAt:  expiresAt,
	}
}

func newFamily(id, userID string, expiresAt time.Time) *storage.RefreshFamily {
	return &storage.RefreshFamily{
		ID:         id,
		ClientID:   "app",
		UserID:     userID,
		Scopes:     []string{"openid", "offline_access"},
		AuthTime:   t0.Add(-time.Minute),
		AMR:        []string{"pwd", "otp"},
		ACR:        "mfa",
		SessionSID: "sid-1",
		CreatedAt:  t0,
		ExpiresAt:  expiresAt,
	}
}

// newRefreshToken returns a token named name; its FamilyID is left for the backend
// (or the caller) to set.
func newRefreshToken(name, userID string, expiresAt time.Time) *storage.RefreshToken {
	return &storage.RefreshToken{
		Hash:      tokenHash(name),
		ClientID:  "app",
		UserID:    userID,
		Scopes:    []string{"openid", "offline_access"},
		IssuedAt:  t0,
		ExpiresAt: expiresAt,
	}
}

// grant is what one authorization code flow leaves in storage.
type grant struct {
	name string
	req  *storage.AuthRequest
	code []byte
	at   *storage.AccessToken
	fam  *storage.RefreshFamily
	rt   *storage.RefreshToken
}

// newGrant runs a code flow named name for userID: a done request, its code, and the
// code's redemption, which issues an access token and a family (absolute expiry
// famExpires) with its first refresh token (named name, idle expiry rtExpires).
func newGrant(t *testing.T, s storage.Store, name, userID string, famExpires, rtExpires time.Time) *grant {
	t.Helper()
	ctx := t.Context()
	g := &grant{
		name: name,
		req:  doneAuthRequest("req-"+name, userID),
		code: codeHash(name),
		at:   newAccessToken("at-"+name, userID, t0.Add(time.Hour)),
		fam:  newFamily("fam-"+name, userID, famExpires),
		rt:   newRefreshToken(name, userID, rtExpires),
	}
	g.rt.FamilyID = g.fam.ID
	must(t, s.CreateAuthRequest(ctx, g.req))
	must(t, s.IssueCode(ctx, g.req.ID, g.code, t0.Add(time.Minute)))
	must(t, s.RedeemCode(ctx, g.code, g.at, g.fam, g.rt))
	return g
}

// wantRevoked checks GetAccessToken's Revoked for each id.
func wantRevoked(t *testing.T, s storage.Store, want bool, atIDs ...string) {
	t.Helper()
	for _, id := range atIDs {
		at, err := s.GetAccessToken(t.Context(), id)
		must(t, err)
		if at.Revoked != want {
			t.Errorf("access token %s: Revoked = %v, want %v", id, at.Revoked, want)
		}
	}
}

func wantFamilyRevoked(t *testing.T, s storage.Store, id string, want bool) {
	t.Helper()
	f, err := s.GetRefreshFamily(t.Context(), id)
	must(t, err)
	if f.Revoked != want {
		t.Errorf("family %s: Revoked = %v, want %v", id, f.Revoked, want)
	}
}

func testRedeemUnknown(t *testing.T, s storage.Store) {
	err := s.RedeemCode(t.Context(), codeHash("unknown"), newAccessToken("at", "u1", t0.Add(time.Hour)), nil, nil)
	wantErr(t, err, storage.ErrNotFound, "RedeemCode of an unknown code")
	_, err = s.GetAccessToken(t.Context(), "at")
	wantErr(t, err, storage.ErrNotFound, "access token of a refused redemption")
}

func testRedeem(t *testing.T, s storage.Store) {
	ctx := t.Context()
	g := newGrant(t, s, "g1", "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))

	req, err := s.GetAuthRequestByCode(ctx, g.code)
	must(t, err)
	want := *g.req
	want.CodeHash, want.CodeExpiresAt = g.code, t0.Add(time.Minute)
	want.CodeUsed, want.IssuedAccessTokenID, want.IssuedRefreshFamilyID = true, g.at.ID, g.fam.ID
	wantEqual(t, req, &want, "redeemed request")

	at, err := s.GetAccessToken(ctx, g.at.ID)
	must(t, err)
	wantEqual(t, at, g.at, "issued access token")
	fam, err := s.GetRefreshFamily(ctx, g.fam.ID)
	must(t, err)
	wantEqual(t, fam, g.fam, "issued family")
	rt, err := s.GetRefreshToken(ctx, g.rt.Hash)
	must(t, err)
	wantEqual(t, rt, g.rt, "issued refresh token")
	if rt.FamilyID != g.fam.ID {
		t.Errorf("refresh token FamilyID = %q, want %q", rt.FamilyID, g.fam.ID)
	}
}

func testRedeemReplay(t *testing.T, s storage.Store) {
	ctx := t.Context()
	g := newGrant(t, s, "g1", "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))
	other := newGrant(t, s, "g2", "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))

	replayAT := newAccessToken("at-replay", "u1", t0.Add(time.Hour))
	replayFam := newFamily("fam-replay", "u1", t0.Add(24*time.Hour))
	replayRT := newRefreshToken("replay", "u1", t0.Add(time.Hour))
	replayRT.FamilyID = replayFam.ID
	err := s.RedeemCode(ctx, g.code, replayAT, replayFam, replayRT)
	wantErr(t, err, storage.ErrReused, "RedeemCode of a used code")

	wantRevoked(t, s, true, g.at.ID)
	wantFamilyRevoked(t, s, g.fam.ID, true)
	_, err = s.RotateRefreshToken(ctx, rotation("g1", "g1-next", t0.Add(time.Minute), 0))
	wantErr(t, err, storage.ErrNotFound, "rotation in a family revoked by a replayed code")

	// The replay issued nothing and did not touch another grant.
	_, err = s.GetAccessToken(ctx, replayAT.ID)
	wantErr(t, err, storage.ErrNotFound, "access token of the replay")
	_, err = s.GetRefreshFamily(ctx, replayFam.ID)
	wantErr(t, err, storage.ErrNotFound, "family of the replay")
	_, err = s.GetRefreshToken(ctx, replayRT.Hash)
	wantErr(t, err, storage.ErrNotFound, "refresh token of the replay")
	req, err := s.GetAuthRequest(ctx, g.req.ID)
	must(t, err)
	if !req.CodeUsed || req.IssuedAccessTokenID != g.at.ID || req.IssuedRefreshFamilyID != g.fam.ID {
		t.Errorf("request after replay: CodeUsed %v, issued %q/%q; want true, %q/%q",
			req.CodeUsed, req.IssuedAccessTokenID, req.IssuedRefreshFamilyID, g.at.ID, g.fam.ID)
	}
	wantRevoked(t, s, false, other.at.ID)
	wantFamilyRevoked(t, s, other.fam.ID, false)

	// A third presentation is a reuse too.
	err = s.RedeemCode(ctx, g.code, newAccessToken("at-third", "u1", t0.Add(time.Hour)), nil, nil)
	wantErr(t, err, storage.ErrReused, "third RedeemCode")
}

func testRedeemReplayWithoutFamily(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, doneAuthRequest("r1", "u1")))
	must(t, s.IssueCode(ctx, "r1", codeHash("r1"), t0.Add(time.Minute)))
	at := newAccessToken("at-1", "u1", t0.Add(time.Hour))
	must(t, s.RedeemCode(ctx, codeHash("r1"), at, nil, nil))
	req, err := s.GetAuthRequest(ctx, "r1")
	must(t, err)
	if !req.CodeUsed || req.IssuedAccessTokenID != "at-1" || req.IssuedRefreshFamilyID != "" {
		t.Errorf("request after redemption: CodeUsed %v, issued %q/%q", req.CodeUsed, req.IssuedAccessTokenID, req.IssuedRefreshFamilyID)
	}
	wantRevoked(t, s, false, "at-1")

	err = s.RedeemCode(ctx, codeHash("r1"), newAccessToken("at-2", "u1", t0.Add(time.Hour)), nil, nil)
	wantErr(t, err, storage.ErrReused, "RedeemCode of a used code")
	wantRevoked(t, s, true, "at-1")
}

// A redemption that cannot store what it issues leaves the code unused.
func testRedeemFailureLeavesCodeUnused(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateAccessToken(ctx, newAccessToken("taken", "u1", t0.Add(time.Hour))))
	must(t, s.CreateAuthRequest(ctx, doneAuthRequest("r1", "u1")))
	must(t, s.IssueCode(ctx, "r1", codeHash("r1"), t0.Add(time.Minute)))

	fam := newFamily("fam-1", "u1", t0.Add(24*time.Hour))
	rt := newRefreshToken("rt-1", "u1", t0.Add(time.Hour))
	rt.FamilyID = fam.ID
	err := s.RedeemCode(ctx, codeHash("r1"), newAccessToken("taken", "u1", t0.Add(time.Hour)), fam, rt)
	wantErr(t, err, storage.ErrAlreadyExists, "RedeemCode issuing a taken access token id")
	req, err := s.GetAuthRequest(ctx, "r1")
	must(t, err)
	if req.CodeUsed || req.IssuedAccessTokenID != "" || req.IssuedRefreshFamilyID != "" {
		t.Errorf("request after a failed redemption: CodeUsed %v, issued %q/%q", req.CodeUsed, req.IssuedAccessTokenID, req.IssuedRefreshFamilyID)
	}
	_, err = s.GetRefreshFamily(ctx, fam.ID)
	wantErr(t, err, storage.ErrNotFound, "family of a failed redemption")
	_, err = s.GetRefreshToken(ctx, rt.Hash)
	wantErr(t, err, storage.ErrNotFound, "refresh token of a failed redemption")

	must(t, s.RedeemCode(ctx, codeHash("r1"), newAccessToken("fresh", "u1", t0.Add(time.Hour)), fam, rt))
	wantRevoked(t, s, false, "fresh")
}

func testRedeemConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, doneAuthRequest("r1", "u1")))
	must(t, s.IssueCode(ctx, "r1", codeHash("r1"), t0.Add(time.Minute)))

	const n = 20
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprint("c", i)
			fam := newFamily("fam-"+name, "u1", t0.Add(24*time.Hour))
			rt := newRefreshToken(name, "u1", t0.Add(time.Hour))
			rt.FamilyID = fam.ID
			<-start
			errs[i] = s.RedeemCode(ctx, codeHash("r1"), newAccessToken("at-"+name, "u1", t0.Add(time.Hour)), fam, rt)
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("redemptions %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		default:
			wantErr(t, err, storage.ErrReused, fmt.Sprint("losing redemption ", i))
		}
	}
	if winner < 0 {
		t.Fatal("no redemption succeeded")
	}
	req, err := s.GetAuthRequest(ctx, "r1")
	must(t, err)
	name := fmt.Sprint("c", winner)
	if req.IssuedAccessTokenID != "at-"+name || req.IssuedRefreshFamilyID != "fam-"+name {
		t.Errorf("request issued %q/%q, want the winner's at-%s/fam-%s", req.IssuedAccessTokenID, req.IssuedRefreshFamilyID, name, name)
	}
	// The losers were replays: what the winner issued is revoked.
	wantRevoked(t, s, true, "at-"+name)
	wantFamilyRevoked(t, s, "fam-"+name, true)
	for i := range n {
		if i == winner {
			continue
		}
		_, err := s.GetAccessToken(ctx, fmt.Sprint("at-c", i))
		wantErr(t, err, storage.ErrNotFound, "access token of a losing redemption")
	}
}

func testAccessTokenCreateGetRevoke(t *testing.T, s storage.Store) {
	ctx := t.Context()
	at := newAccessToken("at-1", "u1", t0.Add(time.Hour))
	must(t, s.CreateAccessToken(ctx, at))
	got, err := s.GetAccessToken(ctx, "at-1")
	must(t, err)
	wantEqual(t, got, at, "access token")

	wantErr(t, s.CreateAccessToken(ctx, newAccessToken("at-1", "u2", t0)), storage.ErrAlreadyExists, "create with a taken id")
	_, err = s.GetAccessToken(ctx, "at-2")
	wantErr(t, err, storage.ErrNotFound, "get unknown")
	wantErr(t, s.RevokeAccessToken(ctx, "at-2"), storage.ErrNotFound, "revoke unknown")

	must(t, s.CreateAccessToken(ctx, newAccessToken("at-3", "u1", t0.Add(time.Hour))))
	must(t, s.RevokeAccessToken(ctx, "at-1"))
	wantRevoked(t, s, true, "at-1")
	wantRevoked(t, s, false, "at-3")
	must(t, s.RevokeAccessToken(ctx, "at-1")) // revoking twice is harmless
	wantRevoked(t, s, true, "at-1")
}

func testRedeemRecordsSessionClient(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ar := doneAuthRequest("r1", "u1")
	ar.SessionSID, ar.SessionExpiresAt = "sid-1", t0.Add(time.Hour)
	must(t, s.CreateAuthRequest(ctx, ar))
	must(t, s.IssueCode(ctx, "r1", codeHash("r1"), t0.Add(time.Minute)))
	must(t, s.RedeemCode(ctx, codeHash("r1"), newAccessToken("at-1", "u1", t0.Add(time.Hour)), nil, nil))
	clients, err := s.ListSessionClients(ctx, "sid-1")
	must(t, err)
	wantEqual(t, clients, []string{ar.ClientID}, "clients of the session after a redemption")
}

// testManyWritersAtOnce: concurrent redemptions of distinct codes, rotations of
// distinct refresh tokens, and redemptions of unknown codes, all at once (a
// backend may commit them together): each valid one succeeds with exactly its
// records, each unknown one fails with ErrNotFound and stores nothing.
func testManyWritersAtOnce(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const n = 16
	grants := make([]*grant, n)
	for i := range n {
		grants[i] = newGrant(t, s, fmt.Sprint("g", i), "u1", t0.Add(24*time.Hour), t0.Add(time.Hour))
		must(t, s.CreateAuthRequest(ctx, doneAuthRequest(fmt.Sprint("fresh-", i), "u1")))
		must(t, s.IssueCode(ctx, fmt.Sprint("fresh-", i), codeHash(fmt.Sprint("fresh-", i)), t0.Add(time.Minute)))
	}
	redeemErrs, unknownErrs, rotateErrs := make([]error, n), make([]error, n), make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprint("fresh-", i)
			fam := newFamily("fam-"+name, "u1", t0.Add(24*time.Hour))
			rt := newRefreshToken(name, "u1", t0.Add(time.Hour))
			<-start
			redeemErrs[i] = s.RedeemCode(ctx, codeHash(name), newAccessToken("at-"+name, "u1", t0.Add(time.Hour)), fam, rt)
		})
		wg.Go(func() {
			name := fmt.Sprint("unknown-", i)
			fam := newFamily("fam-"+name, "u1", t0.Add(24*time.Hour))
			rt := newRefreshToken(name, "u1", t0.Add(time.Hour))
			<-start
			unknownErrs[i] = s.RedeemCode(ctx, codeHash(name), newAccessToken("at-"+name, "u1", t0.Add(time.Hour)), fam, rt)
		})
		wg.Go(func() {
			r := rotation(fmt.Sprint("g", i), fmt.Sprint("g", i, "-next"), t0.Add(time.Minute), 0)
			<-start
			_, rotateErrs[i] = s.RotateRefreshToken(ctx, r)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		name := fmt.Sprint("fresh-", i)
		if redeemErrs[i] != nil {
			t.Errorf("redemption %s: %v", name, redeemErrs[i])
		} else {
			req, err := s.GetAuthRequest(ctx, name)
			must(t, err)
			if !req.CodeUsed || req.IssuedAccessTokenID != "at-"+name || req.IssuedRefreshFamilyID != "fam-"+name {
				t.Errorf("request %s: used %v, issued %q/%q", name, req.CodeUsed, req.IssuedAccessTokenID, req.IssuedRefreshFamilyID)
			}
			wantRevoked(t, s, false, "at-"+name)
			rt, err := s.GetRefreshToken(ctx, tokenHash(name))
			must(t, err)
			if rt.FamilyID != "fam-"+name {
				t.Errorf("refresh token %s in family %q", name, rt.FamilyID)
			}
		}
		wantErr(t, unknownErrs[i], storage.ErrNotFound, "redemption of an unknown code")
		_, err := s.GetAccessToken(ctx, fmt.Sprint("at-unknown-", i))
		wantErr(t, err, storage.ErrNotFound, "access token of a refused redemption")
		_, err = s.GetRefreshFamily(ctx, fmt.Sprint("fam-unknown-", i))
		wantErr(t, err, storage.ErrNotFound, "family of a refused redemption")

		if rotateErrs[i] != nil {
			t.Errorf("rotation of g%d: %v", i, rotateErrs[i])
			continue
		}
		next, err := s.GetRefreshToken(ctx, tokenHash(fmt.Sprint("g", i, "-next")))
		must(t, err)
		if next.FamilyID != grants[i].fam.ID {
			t.Errorf("rotated token of g%d in family %q, want %q", i, next.FamilyID, grants[i].fam.ID)
		}
		wantFamilyRevoked(t, s, grants[i].fam.ID, false)
	}
}
