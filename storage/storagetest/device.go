package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

var deviceTests = []test{
	{"CreateGet", testDeviceCreateGet},
	{"UniqueCodes", testDeviceUniqueCodes},
	{"Update", testDeviceUpdate},
	{"Redeem", testDeviceRedeem},
	{"RedeemOnlyApproved", testDeviceRedeemOnlyApproved},
	{"RedeemConcurrent", testDeviceRedeemConcurrent},
	{"Expiry", testDeviceExpiry},
}

func newDevice(name string, expiresAt time.Time) *storage.DeviceAuthorization {
	return &storage.DeviceAuthorization{
		DeviceCodeHash: tokenHash("device:" + name),
		UserCodeHash:   tokenHash("user:" + name),
		ClientID:       "tv",
		Scopes:         []string{"openid", "offline_access"},
		Resource:       "https://api.example",
		Interval:       5 * time.Second,
		CreatedAt:      t0,
		ExpiresAt:      expiresAt,
		Status:         storage.DevicePending,
	}
}

// approve records a person's approval, as the /device pages do.
func approve(t *testing.T, s storage.Store, d *storage.DeviceAuthorization) {
	t.Helper()
	_, err := s.UpdateDeviceAuthorization(t.Context(), d.DeviceCodeHash, func(x *storage.DeviceAuthorization) error {
		x.Status = storage.DeviceApproved
		x.UserID, x.AuthTime, x.AMR, x.ACR = "u1", t0, []string{"pwd"}, "pwd"
		x.SessionSID, x.SessionExpiresAt = "sid-dev", t0.Add(time.Hour)
		x.GrantedScopes = []string{"openid"}
		return nil
	})
	must(t, err)
}

func testDeviceCreateGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	d := newDevice("d1", t0.Add(10*time.Minute))
	must(t, s.CreateDeviceAuthorization(ctx, d))
	got, err := s.GetDeviceAuthorization(ctx, d.DeviceCodeHash)
	must(t, err)
	wantEqual(t, got, d, "device authorization by device code")
	got, err = s.GetDeviceAuthorizationByUserCode(ctx, d.UserCodeHash)
	must(t, err)
	wantEqual(t, got, d, "device authorization by user code")

	_, err = s.GetDeviceAuthorization(ctx, tokenHash("nope"))
	wantErr(t, err, storage.ErrNotFound, "unknown device code")
	_, err = s.GetDeviceAuthorizationByUserCode(ctx, tokenHash("nope"))
	wantErr(t, err, storage.ErrNotFound, "unknown user code")
	_, err = s.GetDeviceAuthorizationByUserCode(ctx, "")
	wantErr(t, err, storage.ErrNotFound, "empty user code")
}

// Two live requests never share a user code (nor a device code): the caller
// draws again.
func testDeviceUniqueCodes(t *testing.T, s storage.Store) {
	ctx := t.Context()
	d := newDevice("d1", t0.Add(10*time.Minute))
	must(t, s.CreateDeviceAuthorization(ctx, d))
	same := newDevice("d2", t0.Add(10*time.Minute))
	same.UserCodeHash = d.UserCodeHash
	wantErr(t, s.CreateDeviceAuthorization(ctx, same), storage.ErrAlreadyExists, "a taken user code")
	same = newDevice("d3", t0.Add(10*time.Minute))
	same.DeviceCodeHash = d.DeviceCodeHash
	wantErr(t, s.CreateDeviceAuthorization(ctx, same), storage.ErrAlreadyExists, "a taken device code")
	got, err := s.GetDeviceAuthorizationByUserCode(ctx, d.UserCodeHash)
	must(t, err)
	wantEqual(t, got, d, "the first request after refused duplicates")
}

func testDeviceUpdate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	d := newDevice("d1", t0.Add(10*time.Minute))
	must(t, s.CreateDeviceAuthorization(ctx, d))
	got, err := s.UpdateDeviceAuthorization(ctx, d.DeviceCodeHash, func(x *storage.DeviceAuthorization) error {
		x.LastPolledAt = t0.Add(time.Second)
		x.Interval += 5 * time.Second
		return nil
	})
	must(t, err)
	if got.Interval != 10*time.Second || !got.LastPolledAt.Equal(t0.Add(time.Second)) {
		t.Errorf("after update: interval %s, last poll %s", got.Interval, got.LastPolledAt)
	}
	stored, err := s.GetDeviceAuthorization(ctx, d.DeviceCodeHash)
	must(t, err)
	wantEqual(t, stored, got, "stored after update")

	_, err = s.UpdateDeviceAuthorization(ctx, d.DeviceCodeHash, func(x *storage.DeviceAuthorization) error {
		x.Status = storage.DeviceDenied
		return errBoom
	})
	wantErr(t, err, errBoom, "update whose function fails")
	stored, err = s.GetDeviceAuthorization(ctx, d.DeviceCodeHash)
	must(t, err)
	if stored.Status != storage.DevicePending {
		t.Errorf("a failed update changed the status to %q", stored.Status)
	}
	for name, fn := range map[string]func(*storage.DeviceAuthorization){
		"user code hash": func(x *storage.DeviceAuthorization) { x.UserCodeHash = tokenHash("other") },
		"redeemed":       func(x *storage.DeviceAuthorization) { x.Status = storage.DeviceRedeemed },
	} {
		if _, err := s.UpdateDeviceAuthorization(ctx, d.DeviceCodeHash, func(x *storage.DeviceAuthorization) error { fn(x); return nil }); err == nil {
			t.Errorf("an update that changes the %s succeeded", name)
		}
	}
	_, err = s.UpdateDeviceAuthorization(ctx, tokenHash("nope"), func(*storage.DeviceAuthorization) error { return nil })
	wantErr(t, err, storage.ErrNotFound, "update of an unknown request")
}

func testDeviceRedeem(t *testing.T, s storage.Store) {
	ctx := t.Context()
	d := newDevice("d1", t0.Add(10*time.Minute))
	must(t, s.CreateDeviceAuthorization(ctx, d))
	approve(t, s, d)
	at := newAccessToken("at-dev", "u1", t0.Add(time.Hour))
	fam := newFamily("fam-dev", "u1", t0.Add(24*time.Hour))
	rt := newRefreshToken("rt-dev", "u1", t0.Add(time.Hour))
	must(t, s.RedeemDeviceCode(ctx, d.DeviceCodeHash, at, fam, rt))
	if rt.FamilyID != fam.ID || at.RefreshFamilyID != fam.ID {
		t.Errorf("family ids: refresh token %q, access token %q, want %q", rt.FamilyID, at.RefreshFamilyID, fam.ID)
	}
	got, err := s.GetDeviceAuthorization(ctx, d.DeviceCodeHash)
	must(t, err)
	if got.Status != storage.DeviceRedeemed || got.UserID != "u1" {
		t.Errorf("after redemption: status %q, user %q", got.Status, got.UserID)
	}
	gotAT, err := s.GetAccessToken(ctx, "at-dev")
	must(t, err)
	wantEqual(t, gotAT, at, "access token of the redemption")
	gotRT, err := s.GetRefreshToken(ctx, rt.Hash)
	must(t, err)
	wantEqual(t, gotRT, rt, "refresh token of the redemption")
	_, err = s.GetRefreshFamily(ctx, fam.ID)
	must(t, err)
	clients, err := s.ListSessionClients(ctx, "sid-dev")
	must(t, err)
	wantEqual(t, clients, []string{"tv"}, "clients of the approving session")

	// A second redemption stores nothing.
	err = s.RedeemDeviceCode(ctx, d.DeviceCodeHash, newAccessToken("at-again", "u1", t0.Add(time.Hour)),
		newFamily("fam-again", "u1", t0.Add(time.Hour)), newRefreshToken("rt-again", "u1", t0.Add(time.Hour)))
	wantErr(t, err, storage.ErrConflict, "second redemption")
	_, err = s.GetAccessToken(ctx, "at-again")
	wantErr(t, err, storage.ErrNotFound, "access token of a refused redemption")
	_, err = s.GetRefreshFamily(ctx, "fam-again")
	wantErr(t, err, storage.ErrNotFound, "family of a refused redemption")

	// A JWT access token leaves no record.
	d2 := newDevice("d2", t0.Add(10*time.Minute))
	must(t, s.CreateDeviceAuthorization(ctx, d2))
	approve(t, s, d2)
	must(t, s.RedeemDeviceCode(ctx, d2.DeviceCodeHash, newJWT("jwt-dev", t0.Add(time.Hour)), nil, nil))
	_, err = s.GetAccessToken(ctx, "jwt-dev")
	wantErr(t, err, storage.ErrNotFound, "record of a JWT access token")
}

func testDeviceRedeemOnlyApproved(t *testing.T, s storage.Store) {
	ctx := t.Context()
	err := s.RedeemDeviceCode(ctx, tokenHash("nope"), newAccessToken("at-x", "u1", t0.Add(time.Hour)), nil, nil)
	wantErr(t, err, storage.ErrNotFound, "redemption of an unknown request")
	for _, status := range []string{storage.DevicePending, storage.DeviceDenied} {
		d := newDevice(status, t0.Add(10*time.Minute))
		d.Status = status
		must(t, s.CreateDeviceAuthorization(ctx, d))
		err := s.RedeemDeviceCode(ctx, d.DeviceCodeHash, newAccessToken("at-"+status, "u1", t0.Add(time.Hour)), nil, nil)
		wantErr(t, err, storage.ErrConflict, "redemption of a "+status+" request")
		_, err = s.GetAccessToken(ctx, "at-"+status)
		wantErr(t, err, storage.ErrNotFound, "access token of a refused redemption")
	}
}

// Of concurrent redemptions of one approved request exactly one succeeds.
func testDeviceRedeemConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	d := newDevice("d1", t0.Add(10*time.Minute))
	must(t, s.CreateDeviceAuthorization(ctx, d))
	approve(t, s, d)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := string(rune('a' + i))
			errs[i] = s.RedeemDeviceCode(ctx, d.DeviceCodeHash, newAccessToken("at-"+name, "u1", t0.Add(time.Hour)),
				newFamily("fam-"+name, "u1", t0.Add(time.Hour)), newRefreshToken("rt-"+name, "u1", t0.Add(time.Hour)))
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("a losing redemption: %v, want ErrConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent redemptions succeeded, want 1", won)
	}
}

// The janitor deletes a request at its expiry, redeemed or not, and its user
// code is free again.
func testDeviceExpiry(t *testing.T, s storage.Store) {
	ctx := t.Context()
	old := newDevice("old", t0.Add(-time.Second))
	live := newDevice("live", t0.Add(time.Minute))
	must(t, s.CreateDeviceAuthorization(ctx, old))
	must(t, s.CreateDeviceAuthorization(ctx, live))
	// Moving the expiry (none of the pages does, but the contract allows it)
	// moves what the janitor sees.
	_, err := s.UpdateDeviceAuthorization(ctx, live.DeviceCodeHash, func(x *storage.DeviceAuthorization) error {
		x.ExpiresAt = t0.Add(2 * time.Minute)
		return nil
	})
	must(t, err)
	if total, _ := janitor(t, s, t0, 10); total != 1 {
		t.Errorf("janitor deleted %d records, want 1", total)
	}
	_, err = s.GetDeviceAuthorization(ctx, old.DeviceCodeHash)
	wantErr(t, err, storage.ErrNotFound, "expired request")
	_, err = s.GetDeviceAuthorizationByUserCode(ctx, old.UserCodeHash)
	wantErr(t, err, storage.ErrNotFound, "user code of an expired request")
	_, err = s.GetDeviceAuthorization(ctx, live.DeviceCodeHash)
	must(t, err)
	again := newDevice("again", t0.Add(time.Hour))
	again.UserCodeHash = old.UserCodeHash
	must(t, s.CreateDeviceAuthorization(ctx, again))

	janitor(t, s, t0.Add(time.Minute+time.Second), 10)
	_, err = s.GetDeviceAuthorization(ctx, live.DeviceCodeHash)
	must(t, err) // its expiry was moved later
	janitor(t, s, t0.Add(2*time.Minute), 10)
	_, err = s.GetDeviceAuthorization(ctx, live.DeviceCodeHash)
	wantErr(t, err, storage.ErrNotFound, "request after its moved expiry")
}
