package storagetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

var authRequestTests = []test{
	{"CreateGetDelete", testAuthRequestCreateGetDelete},
	{"Update", testAuthRequestUpdate},
	{"UpdateKeepsCodeFields", testAuthRequestUpdateKeepsCodeFields},
	{"FirstFactor", testAuthRequestFirstFactor},
	{"AccountRequest", testAuthRequestAccount},
	{"IssueCode", testIssueCode},
}

func newAuthRequest(id string) *storage.AuthRequest {
	return &storage.AuthRequest{
		ID:                  id,
		ClientID:            "app",
		RedirectURI:         "https://app.example/cb",
		Scopes:              []string{"openid", "profile", "offline_access"},
		ResponseType:        "code",
		ResponseMode:        "query",
		State:               "state-" + id,
		Nonce:               "nonce-" + id,
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Prompt:              []string{"login"},
		MaxAge:              -1,
		LoginHint:           "alice",
		ACRValues:           []string{"mfa"},
		UILocales:           []string{"de", "en"},
		CreatedAt:           t0,
		ExpiresAt:           t0.Add(10 * time.Minute),
	}
}

// doneAuthRequest is a request the login UI has completed for userID.
func doneAuthRequest(id, userID string) *storage.AuthRequest {
	a := newAuthRequest(id)
	a.Done = true
	a.UserID = userID
	a.AuthTime = t0
	a.AMR = []string{"pwd"}
	a.ACR = "pwd"
	a.SessionSID = "sid-" + id
	a.GrantedScopes = []string{"openid", "offline_access"}
	return a
}

func testAuthRequestCreateGetDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	a := newAuthRequest("r1")
	must(t, s.CreateAuthRequest(ctx, a))
	got, err := s.GetAuthRequest(ctx, "r1")
	must(t, err)
	wantEqual(t, got, a, "auth request")

	wantErr(t, s.CreateAuthRequest(ctx, newAuthRequest("r1")), storage.ErrAlreadyExists, "create with a taken id")
	_, err = s.GetAuthRequest(ctx, "r2")
	wantErr(t, err, storage.ErrNotFound, "get unknown")
	_, err = s.UpdateAuthRequest(ctx, "r2", func(*storage.AuthRequest) error { return nil })
	wantErr(t, err, storage.ErrNotFound, "update unknown")
	wantErr(t, s.DeleteAuthRequest(ctx, "r2"), storage.ErrNotFound, "delete unknown")

	// Deleting a request with a code removes the code too.
	must(t, s.CreateAuthRequest(ctx, doneAuthRequest("r3", "u1")))
	must(t, s.IssueCode(ctx, "r3", codeHash("r3"), t0.Add(time.Minute)))
	must(t, s.DeleteAuthRequest(ctx, "r1"))
	must(t, s.DeleteAuthRequest(ctx, "r3"))
	for _, id := range []string{"r1", "r3"} {
		_, err = s.GetAuthRequest(ctx, id)
		wantErr(t, err, storage.ErrNotFound, "get after delete")
	}
	_, err = s.GetAuthRequestByCode(ctx, codeHash("r3"))
	wantErr(t, err, storage.ErrNotFound, "get by the code of a deleted request")
	wantErr(t, s.DeleteAuthRequest(ctx, "r1"), storage.ErrNotFound, "delete twice")
}

func testAuthRequestUpdate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("r1")))
	want := doneAuthRequest("r1", "u1")
	got, err := s.UpdateAuthRequest(ctx, "r1", func(a *storage.AuthRequest) error {
		wantEqual(t, a, newAuthRequest("r1"), "request given to fn")
		a.Done, a.UserID, a.AuthTime, a.AMR, a.ACR, a.SessionSID, a.GrantedScopes =
			true, want.UserID, want.AuthTime, want.AMR, want.ACR, want.SessionSID, want.GrantedScopes
		return nil
	})
	must(t, err)
	wantEqual(t, got, want, "UpdateAuthRequest result")
	stored, err := s.GetAuthRequest(ctx, "r1")
	must(t, err)
	wantEqual(t, stored, want, "stored request")

	_, err = s.UpdateAuthRequest(ctx, "r1", func(a *storage.AuthRequest) error {
		a.UserID = "mallory"
		return errBoom
	})
	wantErr(t, err, errBoom, "UpdateAuthRequest with a failing fn")
	stored, err = s.GetAuthRequest(ctx, "r1")
	must(t, err)
	wantEqual(t, stored, want, "request after an aborted update")
}

// The state between a first and a second factor is stored, and cleared when the
// request is done.
func testAuthRequestFirstFactor(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("r1")))
	want := newAuthRequest("r1")
	want.FirstFactorUserID, want.FirstFactorAt, want.FirstFactorBinding = "u1", t0.Add(time.Second), "0123abcd"
	_, err := s.UpdateAuthRequest(ctx, "r1", func(a *storage.AuthRequest) error {
		a.FirstFactorUserID, a.FirstFactorAt, a.FirstFactorBinding = want.FirstFactorUserID, want.FirstFactorAt, want.FirstFactorBinding
		return nil
	})
	must(t, err)
	got, err := s.GetAuthRequest(ctx, "r1")
	must(t, err)
	wantEqual(t, got, want, "request with a first factor")

	done := doneAuthRequest("r1", "u1")
	_, err = s.UpdateAuthRequest(ctx, "r1", func(a *storage.AuthRequest) error {
		a.FirstFactorUserID, a.FirstFactorAt, a.FirstFactorBinding = "", time.Time{}, ""
		a.Done, a.UserID, a.AuthTime, a.AMR, a.ACR, a.SessionSID, a.GrantedScopes =
			true, done.UserID, done.AuthTime, done.AMR, done.ACR, done.SessionSID, done.GrantedScopes
		return nil
	})
	must(t, err)
	got, err = s.GetAuthRequest(ctx, "r1")
	must(t, err)
	wantEqual(t, got, done, "done request")
}

// A request without a client (the login UI's own account sign-in) is stored,
// expires and is deleted like any other.
func testAuthRequestAccount(t *testing.T, s storage.Store) {
	ctx := t.Context()
	a := &storage.AuthRequest{
		ID: "acct1", MaxAge: -1, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute),
		FirstFactorUserID: "u1", FirstFactorAt: t0, FirstFactorBinding: "beef",
	}
	must(t, s.CreateAuthRequest(ctx, a))
	got, err := s.GetAuthRequest(ctx, "acct1")
	must(t, err)
	wantEqual(t, got, a, "account request")
	n, err := s.DeleteExpired(ctx, t0.Add(11*time.Minute), 100)
	must(t, err)
	if n < 1 {
		t.Errorf("DeleteExpired removed %d records, want the expired account request", n)
	}
	_, err = s.GetAuthRequest(ctx, "acct1")
	wantErr(t, err, storage.ErrNotFound, "expired account request")
}

// The code fields change only through IssueCode and RedeemCode. Whether a backend
// refuses an fn that touches one of them or ignores the change, they must stay as
// they were.
func testAuthRequestUpdateKeepsCodeFields(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, doneAuthRequest("r1", "u1")))
	must(t, s.IssueCode(ctx, "r1", codeHash("r1"), t0.Add(time.Minute)))
	for name, change := range map[string]func(*storage.AuthRequest){
		"CodeUsed":              func(a *storage.AuthRequest) { a.CodeUsed = true },
		"CodeHash":              func(a *storage.AuthRequest) { a.CodeHash = codeHash("other") },
		"IssuedAccessTokenID":   func(a *storage.AuthRequest) { a.IssuedAccessTokenID = "at-x" },
		"IssuedRefreshFamilyID": func(a *storage.AuthRequest) { a.IssuedRefreshFamilyID = "fam-x" },
	} {
		_, _ = s.UpdateAuthRequest(ctx, "r1", func(a *storage.AuthRequest) error {
			change(a)
			return nil
		})
		got, err := s.GetAuthRequestByCode(ctx, codeHash("r1"))
		must(t, err)
		if got.ID != "r1" || got.CodeUsed || !bytes.Equal(got.CodeHash, codeHash("r1")) || got.IssuedAccessTokenID != "" || got.IssuedRefreshFamilyID != "" {
			t.Errorf("UpdateAuthRequest changed %s: %+v", name, got)
		}
		_, err = s.GetAuthRequestByCode(ctx, codeHash("other"))
		wantErr(t, err, storage.ErrNotFound, "get by a code hash fn tried to set")
	}
}

func testIssueCode(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("pending")))
	must(t, s.CreateAuthRequest(ctx, doneAuthRequest("done", "u1")))

	wantErr(t, s.IssueCode(ctx, "pending", codeHash("pending"), t0.Add(time.Minute)), storage.ErrConflict, "IssueCode on a request not done")
	wantErr(t, s.IssueCode(ctx, "missing", codeHash("missing"), t0.Add(time.Minute)), storage.ErrNotFound, "IssueCode on an unknown request")
	_, err := s.GetAuthRequestByCode(ctx, codeHash("pending"))
	wantErr(t, err, storage.ErrNotFound, "get by a refused code")

	must(t, s.IssueCode(ctx, "done", codeHash("done"), t0.Add(time.Minute)))
	want := doneAuthRequest("done", "u1")
	want.CodeHash, want.CodeExpiresAt = codeHash("done"), t0.Add(time.Minute)
	got, err := s.GetAuthRequestByCode(ctx, codeHash("done"))
	must(t, err)
	wantEqual(t, got, want, "request by code")
	got, err = s.GetAuthRequest(ctx, "done")
	must(t, err)
	wantEqual(t, got, want, "request by id")

	wantErr(t, s.IssueCode(ctx, "done", codeHash("again"), t0.Add(2*time.Minute)), storage.ErrConflict, "IssueCode twice")
	got, err = s.GetAuthRequest(ctx, "done")
	must(t, err)
	wantEqual(t, got, want, "request after a refused second code")
	_, err = s.GetAuthRequestByCode(ctx, codeHash("again"))
	wantErr(t, err, storage.ErrNotFound, "get by the refused second code")
	_, err = s.GetAuthRequestByCode(ctx, codeHash("unknown"))
	wantErr(t, err, storage.ErrNotFound, "get by an unknown code")
}
