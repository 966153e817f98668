package pending_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
	"github.com/signet-idp/signet/storage/pending"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func open(t *testing.T) (*pending.Store, *boltstore.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "signet.db")
	bs, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	return pending.Wrap(bs, pending.DeriveKey([32]byte{1, 2, 3})), bs, path
}

func request() *storage.AuthRequest {
	return &storage.AuthRequest{
		ID: "chosen-by-caller", ClientID: "app", RedirectURI: "https://app.example/cb",
		Scopes: []string{"openid", "email"}, ResponseType: "code", State: "<state & more>", Nonce: "n-0",
		CodeChallenge: strings.Repeat("c", 43), CodeChallengeMethod: "S256", Prompt: []string{"login"},
		MaxAge: -1, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute),
	}
}

func TestPristineRequestIsSealedNotStored(t *testing.T) {
	ctx := context.Background()
	ps, bs, _ := open(t)
	a := request()
	if err := ps.CreateAuthRequest(ctx, a); err != nil {
		t.Fatal(err)
	}
	if !pending.IsSealed(a.ID) {
		t.Fatalf("id %q is not sealed", a.ID)
	}
	if _, err := bs.GetAuthRequest(ctx, "chosen-by-caller"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the request reached storage: %v", err)
	}
	got, err := ps.GetAuthRequest(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || got.State != a.State || got.Nonce != a.Nonce || got.RedirectURI != a.RedirectURI ||
		!got.ExpiresAt.Equal(a.ExpiresAt) || strings.Join(got.Scopes, " ") != "openid email" || got.MaxAge != -1 {
		t.Fatalf("opened %+v, sealed %+v", got, a)
	}
	// Two requests with the same content have different ids.
	b := request()
	ps.CreateAuthRequest(ctx, b)
	if b.ID == a.ID {
		t.Fatal("two sealed requests share an id")
	}
}

func TestSealedIDsResistTampering(t *testing.T) {
	ctx := context.Background()
	ps, bs, _ := open(t)
	a := request()
	ps.CreateAuthRequest(ctx, a)
	other := pending.Wrap(bs, pending.DeriveKey([32]byte{9}))
	flipped := []byte(a.ID)
	flipped[len(flipped)/2] ^= 1
	if flipped[len(flipped)/2] == '.' {
		flipped[len(flipped)/2] = 'A'
	}
	for name, id := range map[string]string{
		"flipped":   string(flipped),
		"truncated": a.ID[:len(a.ID)-4],
		"garbage":   "s.!!!",
		"empty":     "s.",
		"too long":  "s." + strings.Repeat("A", storage.MaxAuthRequestIDLen),
	} {
		if _, err := ps.GetAuthRequest(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
		if _, err := ps.UpdateAuthRequest(ctx, id, func(*storage.AuthRequest) error { return nil }); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: update: %v, want ErrNotFound", name, err)
		}
	}
	if _, err := other.GetAuthRequest(ctx, a.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("another key opened the request: %v", err)
	}
}

func TestFirstUpdateStoresAndLaterReadsSeeIt(t *testing.T) {
	ctx := context.Background()
	ps, _, _ := open(t)
	a := request()
	ps.CreateAuthRequest(ctx, a)

	// A failing update stores nothing.
	boom := errors.New("boom")
	if _, err := ps.UpdateAuthRequest(ctx, a.ID, func(*storage.AuthRequest) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	if err := ps.IssueCode(ctx, a.ID, []byte("h"), t0.Add(time.Minute)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("IssueCode of an unstored request: %v", err)
	}

	up, err := ps.UpdateAuthRequest(ctx, a.ID, func(x *storage.AuthRequest) error {
		if x.ID != a.ID {
			t.Errorf("fn sees id %q", x.ID)
		}
		x.FirstFactorUserID = "u1"
		return nil
	})
	if err != nil || up.ID != a.ID || up.FirstFactorUserID != "u1" {
		t.Fatalf("update: %+v %v", up, err)
	}
	up, err = ps.UpdateAuthRequest(ctx, a.ID, func(x *storage.AuthRequest) error {
		if x.FirstFactorUserID != "u1" {
			t.Errorf("second update does not see the first: %+v", x)
		}
		x.Done, x.UserID = true, "u1"
		return nil
	})
	if err != nil || !up.Done {
		t.Fatalf("second update: %+v %v", up, err)
	}
	got, err := ps.GetAuthRequest(ctx, a.ID)
	if err != nil || !got.Done || got.ID != a.ID || got.State != a.State {
		t.Fatalf("get after updates: %+v %v", got, err)
	}
	// An update must not change the id.
	if _, err := ps.UpdateAuthRequest(ctx, a.ID, func(x *storage.AuthRequest) error { x.ID = "other"; return nil }); err == nil {
		t.Fatal("an update changed the id")
	}

	// The code is issued on the stored record and found by its hash.
	if err := ps.IssueCode(ctx, a.ID, []byte("code-hash"), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	byCode, err := ps.GetAuthRequestByCode(ctx, []byte("code-hash"))
	if err != nil || byCode.UserID != "u1" || byCode.State != a.State {
		t.Fatalf("by code: %+v %v", byCode, err)
	}
	if err := ps.IssueCode(ctx, a.ID, []byte("code-2"), t0.Add(time.Minute)); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("second code: %v", err)
	}
}

func TestConcurrentFirstUpdatesBothCount(t *testing.T) {
	ctx := context.Background()
	ps, _, _ := open(t)
	a := request()
	ps.CreateAuthRequest(ctx, a)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, err := ps.UpdateAuthRequest(ctx, a.ID, func(x *storage.AuthRequest) error {
				x.AMR = append(x.AMR, string(rune('a'+i)))
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := ps.GetAuthRequest(ctx, a.ID)
	if err != nil || len(got.AMR) != 8 {
		t.Fatalf("after 8 concurrent updates: %v %v", got.AMR, err)
	}
}

func TestRequestsWithSignInStateAreStored(t *testing.T) {
	ctx := context.Background()
	ps, bs, _ := open(t)
	a := &storage.AuthRequest{ID: "account-1", MaxAge: -1, FirstFactorUserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	if err := ps.CreateAuthRequest(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.ID != "account-1" {
		t.Fatalf("id changed to %q", a.ID)
	}
	if _, err := bs.GetAuthRequest(ctx, "account-1"); err != nil {
		t.Fatalf("not stored: %v", err)
	}
	if err := ps.DeleteAuthRequest(ctx, "account-1"); err != nil {
		t.Fatal(err)
	}
}

// TestSealedRequestsDoNotGrowTheFile is the cause of the anonymous flood:
// 20,000 requests with 1.5 KB parameters leave the file as it was.
func TestSealedRequestsDoNotGrowTheFile(t *testing.T) {
	ctx := context.Background()
	ps, _, path := open(t)
	before := size(t, path)
	long := strings.Repeat("<&>", 500)
	for range 20000 {
		a := request()
		a.State, a.Nonce = long, long
		if err := ps.CreateAuthRequest(ctx, a); err != nil {
			t.Fatal(err)
		}
		if len(a.ID) > 8<<10 {
			t.Fatalf("sealed id of %d bytes", len(a.ID))
		}
	}
	if after := size(t, path); after != before {
		t.Fatalf("file grew from %d to %d bytes", before, after)
	}
}

func TestTooLargeIsRefused(t *testing.T) {
	ps, _, _ := open(t)
	a := request()
	a.State = strings.Repeat("\x01", storage.MaxAuthRequestIDLen/4)
	if err := ps.CreateAuthRequest(context.Background(), a); !errors.Is(err, pending.ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestOneSpellingPerSealedRequest: another spelling of the same sealed bytes
// (padding bits set in the last character, a line break) opens nothing, so a
// request once stored cannot be stored again under a variant of its id.
func TestOneSpellingPerSealedRequest(t *testing.T) {
	ctx := context.Background()
	ps, _, _ := open(t)
	a := request()
	ps.CreateAuthRequest(ctx, a)
	if _, err := ps.UpdateAuthRequest(ctx, a.ID, func(x *storage.AuthRequest) error { x.Done, x.UserID = true, "u1"; return nil }); err != nil {
		t.Fatal(err)
	}
	last := a.ID[len(a.ID)-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var variants []string
	for _, c := range alphabet {
		if byte(c) != last {
			variants = append(variants, a.ID[:len(a.ID)-1]+string(c))
		}
	}
	variants = append(variants, a.ID[:10]+"\n"+a.ID[10:], a.ID[:10]+"\r"+a.ID[10:])
	for _, v := range variants {
		got, err := ps.GetAuthRequest(ctx, v)
		if err == nil && !got.Done {
			t.Fatalf("variant %q opens the request as not yet done", v)
		}
	}
}
