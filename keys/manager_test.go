package keys

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
	"github.com/signet-idp/signet/storage/storagetest/clocktest"
)

func openStore(t *testing.T) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "signet.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newTestManager(t *testing.T, store storage.Keys, kek byte, clk *clocktest.Clock) *Manager {
	t.Helper()
	m, err := NewManager(store, [32]byte{kek}, testPolicy, clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func states(t *testing.T, store storage.Keys) map[string]map[string][]string {
	t.Helper()
	keys, err := store.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	for _, k := range keys {
		if out[k.Alg] == nil {
			out[k.Alg] = map[string][]string{}
		}
		out[k.Alg][k.State] = append(out[k.Alg][k.State], k.ID)
	}
	return out
}

func jwksKIDs(t *testing.T, snap *Snapshot) map[string]bool {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(snap.JWKS, &set); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("private key material in the JWKS (kid %s)", k.KeyID)
		}
		if k.Use != "sig" || k.Algorithm == "" {
			t.Fatalf("JWKS key %s lacks use/alg", k.KeyID)
		}
		out[k.KeyID] = true
	}
	for _, part := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
		if strings.Contains(string(snap.JWKS), part) {
			t.Fatalf("JWKS contains %s", part)
		}
	}
	return out
}

func TestManagerLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m := newTestManager(t, store, 1, clk)
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	st := states(t, store)
	for _, alg := range []string{"RS256", "ES256"} {
		if len(st[alg][storage.KeyActive]) != 1 || len(st[alg][storage.KeyNext]) != 1 {
			t.Fatalf("%s after init: %v", alg, st[alg])
		}
	}
	snap := m.Snapshot()
	if got := len(jwksKIDs(t, snap)); got != 4 {
		t.Fatalf("JWKS has %d keys, want 4 (active and next per algorithm)", got)
	}
	rs, _ := snap.Signer(jose.RS256)
	if rs.KID != st["RS256"][storage.KeyActive][0] {
		t.Fatalf("RS256 signer %s is not the active key", rs.KID)
	}

	// A token signed now verifies with the published key.
	tok, err := rs.SignJWT([]byte(`{"sub":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	verify := func(s *Snapshot, tok string) error {
		jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
		if err != nil {
			return err
		}
		pk, ok := s.Lookup(jws.Signatures[0].Header.KeyID)
		if !ok {
			return errors.New("kid not published")
		}
		_, err = jws.Verify(pk.JWK.Key)
		return err
	}
	if err := verify(snap, tok); err != nil {
		t.Fatal(err)
	}

	// Manual rotation: the published next key signs; the old one stays published.
	nextRS := st["RS256"][storage.KeyNext][0]
	if err := m.RotateNow(ctx, "RS256"); err != nil {
		t.Fatal(err)
	}
	snap2 := m.Snapshot()
	rs2, _ := snap2.Signer(jose.RS256)
	if rs2.KID != nextRS {
		t.Fatalf("after rotate the signer is %s, want the pre-published %s", rs2.KID, nextRS)
	}
	if !jwksKIDs(t, snap)[rs2.KID] {
		t.Fatalf("the new signing key was not in the JWKS before the rotation")
	}
	if err := verify(snap2, tok); err != nil {
		t.Fatalf("token signed before the rotation no longer verifies: %v", err)
	}
	es1, _ := snap.Signer(jose.ES256)
	if es2, _ := snap2.Signer(jose.ES256); es2.KID != es1.KID {
		t.Fatalf("rotating RS256 changed ES256")
	}
	if len(states(t, store)["RS256"][storage.KeyNext]) != 1 {
		t.Fatalf("no new next key after rotation")
	}

	// The retired key leaves the JWKS after its retention.
	clk.Advance(testPolicy.Retention + time.Minute)
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if jwksKIDs(t, m.Snapshot())[rs.KID] {
		t.Fatalf("retired key still published after retention")
	}

	// Retire (compromise) the signing key: gone at once, the next one signs.
	st = states(t, store)
	nextRS = st["RS256"][storage.KeyNext][0]
	if err := m.Retire(ctx, rs2.KID); err != nil {
		t.Fatal(err)
	}
	snap3 := m.Snapshot()
	if jwksKIDs(t, snap3)[rs2.KID] {
		t.Fatalf("retired key still in JWKS")
	}
	if rs3, _ := snap3.Signer(jose.RS256); rs3.KID != nextRS {
		t.Fatalf("after retire the signer is %s, want %s", rs3.KID, nextRS)
	}
	if err := m.Retire(ctx, "no-such-kid"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("retire unknown kid: %v", err)
	}
	if err := m.RotateNow(ctx, "HS256"); err == nil {
		t.Fatalf("rotate with an unsupported alg succeeded")
	}
}

func TestManagerWrongKEKAndRewrap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	clk := clocktest.New(time.Now())
	if err := newTestManager(t, store, 1, clk).Init(ctx); err != nil {
		t.Fatal(err)
	}
	before := states(t, store)
	err := newTestManager(t, store, 2, clk).Init(ctx)
	if !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("wrong KEK: err = %v, want ErrWrongKEK", err)
	}
	if after := states(t, store); len(after["RS256"][storage.KeyActive]) != 1 || after["RS256"][storage.KeyActive][0] != before["RS256"][storage.KeyActive][0] {
		t.Fatalf("a wrong KEK changed the key set: %v", after)
	}

	m := newTestManager(t, store, 1, clk)
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Rewrap(ctx, [32]byte{3}); err != nil {
		t.Fatal(err)
	}
	if err := newTestManager(t, store, 3, clk).Init(ctx); err != nil {
		t.Fatalf("new KEK after rewrap: %v", err)
	}
	if err := newTestManager(t, store, 1, clk).Init(ctx); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("old KEK after rewrap: %v", err)
	}
	// New keys are sealed under the new KEK.
	if err := m.RotateNow(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := newTestManager(t, store, 3, clk).Init(ctx); err != nil {
		t.Fatalf("keys made after rewrap: %v", err)
	}
}

// TestManagerConcurrentRotation races two managers (as two replicas would be)
// over one database: they rotate once, not twice.
func TestManagerConcurrentRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a, b := newTestManager(t, store, 1, clk), newTestManager(t, store, 1, clk)
	run := func(f func(*Manager) error) {
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, m := range []*Manager{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- f(m) }()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	run(func(m *Manager) error { return m.Init(ctx) })
	if keys, _ := store.ListKeys(ctx); len(keys) != 4 {
		t.Fatalf("two concurrent first starts made %d keys, want 4", len(keys))
	}
	clk.Advance(testPolicy.RotationPeriod + time.Hour)
	run(func(m *Manager) error { return m.Rotate(ctx) })
	st := states(t, store)
	for _, alg := range []string{"RS256", "ES256"} {
		if len(st[alg][storage.KeyActive]) != 1 || len(st[alg][storage.KeyNext]) != 1 || len(st[alg][storage.KeyRetired]) != 1 {
			t.Fatalf("%s after a raced rotation: %v", alg, st[alg])
		}
	}
	// Both replicas sign with the same key afterwards.
	sa, _ := a.Snapshot().Signer(jose.RS256)
	sb, _ := b.Snapshot().Signer(jose.RS256)
	if sa.KID != sb.KID {
		t.Fatalf("replicas sign with different keys: %s and %s", sa.KID, sb.KID)
	}
}

func TestManagerCorruptedRecordKeepsSigning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	clk := clocktest.New(time.Now())
	m := newTestManager(t, store, 1, clk)
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	before := m.Snapshot()
	err := store.UpdateKeys(ctx, func(cur []*storage.SigningKey) ([]*storage.SigningKey, error) {
		for _, k := range cur {
			if k.State == storage.KeyNext && k.Alg == "ES256" {
				k.PublicJWK = []byte("{not json")
			}
		}
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(ctx); err == nil || !strings.Contains(err.Error(), "corrupted") {
		t.Fatalf("reload of a corrupted record: %v", err)
	}
	if m.Snapshot() != before {
		t.Fatalf("a failed reload replaced the snapshot")
	}
	if _, ok := m.Snapshot().Signer(jose.RS256); !ok {
		t.Fatalf("signing stopped")
	}
}

// TestGeneratedKIDsAreCLISafe: a kid is the key's RFC 7638 thumbprint and
// never begins with '-', so "signet keys retire KID" cannot read it as a flag.
// Without the check about one kid in 64 would; 400 keys make a miss unlikely
// to pass unnoticed (under 0.2 %).
func TestGeneratedKIDsAreCLISafe(t *testing.T) {
	t.Parallel()
	m := newTestManager(t, openStore(t), 1, clocktest.New(time.Unix(1_700_000_000, 0)))
	for i := 0; i < 400; i++ {
		k, err := m.generate(jose.ES256)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(k.ID, "-") {
			t.Fatalf("generated kid %q begins with '-'", k.ID)
		}
		var pub jose.JSONWebKey
		if err := json.Unmarshal(k.PublicJWK, &pub); err != nil {
			t.Fatal(err)
		}
		tp, err := pub.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if want := base64.RawURLEncoding.EncodeToString(tp); k.ID != want || pub.KeyID != want {
			t.Fatalf("kid %q (JWK kid %q) is not the thumbprint %q", k.ID, pub.KeyID, want)
		}
	}
}

// TestManagerDamagedActiveKey: an active key whose private part no longer
// opens, while the key-encryption key opens the others, is a damaged record,
// not a wrong key-encryption key: the manager loads (so the server starts and
// the keys commands work), signs nothing with it, and retiring it lets the
// next key sign. A key-encryption key that opens nothing is still refused.
func TestManagerDamagedActiveKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	clk := clocktest.New(time.Now())
	m := newTestManager(t, store, 1, clk)
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	damaged := ""
	err := store.UpdateKeys(ctx, func(cur []*storage.SigningKey) ([]*storage.SigningKey, error) {
		for _, k := range cur {
			if k.State == storage.KeyActive && k.Alg == "ES256" {
				k.Sealed[len(k.Sealed)-1] ^= 1
				damaged = k.ID
			}
		}
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	fresh := newTestManager(t, store, 1, clk)
	if err := fresh.Init(ctx); err != nil {
		t.Fatalf("start with one damaged key record: %v", err)
	}
	snap := fresh.Snapshot()
	if got := snap.Damaged(); len(got) != 1 || got[0] != damaged {
		t.Fatalf("Damaged() = %v, want [%s]", got, damaged)
	}
	if _, ok := snap.Signer(jose.ES256); ok {
		t.Fatalf("signs ES256 with a damaged key")
	}
	if _, ok := snap.Signer(jose.RS256); !ok {
		t.Fatalf("RS256 signing stopped because of the ES256 record")
	}
	if err := fresh.Retire(ctx, damaged); err != nil {
		t.Fatalf("retire the damaged key: %v", err)
	}
	if sg, ok := fresh.Snapshot().Signer(jose.ES256); !ok || sg.KID == damaged {
		t.Fatalf("after retiring it: ES256 signer %v, %v", sg, ok)
	}
	if len(fresh.Snapshot().Damaged()) != 0 {
		t.Fatalf("still damaged: %v", fresh.Snapshot().Damaged())
	}

	wrong := newTestManager(t, store, 2, clk)
	if err := wrong.Init(ctx); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("a key-encryption key that opens nothing: %v, want ErrWrongKEK", err)
	}
}

// TestSyncSeesChangesMadeElsewhere: two managers on one store (two replicas on
// one database). A rotation by one reaches the other's snapshot at its next
// Sync, and a Sync with nothing changed keeps the snapshot.
func TestSyncSeesChangesMadeElsewhere(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	store := openStore(t)
	ctx := context.Background()
	a := newTestManager(t, store, 1, clk)
	if err := a.Init(ctx); err != nil {
		t.Fatal(err)
	}
	b := newTestManager(t, store, 1, clk)
	if err := b.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if changed, err := b.Sync(ctx); err != nil || changed {
		t.Fatalf("Sync with nothing changed: %v %v", changed, err)
	}
	before := b.Snapshot()
	if err := a.RotateNow(ctx, "RS256"); err != nil {
		t.Fatal(err)
	}
	if jwksKIDs(t, b.Snapshot()) == nil || b.Snapshot() != before {
		t.Fatal("the other manager changed before it synced")
	}
	changed, err := b.Sync(ctx)
	if err != nil || !changed {
		t.Fatalf("Sync after a rotation elsewhere: %v %v", changed, err)
	}
	want, got := jwksKIDs(t, a.Snapshot()), jwksKIDs(t, b.Snapshot())
	if len(want) == 0 || len(got) != len(want) {
		t.Fatalf("after Sync: JWKS %v, want %v", got, want)
	}
	for kid := range want {
		if !got[kid] {
			t.Errorf("after Sync the other manager lacks %s", kid)
		}
	}
	if b.Snapshot().Version == before.Version {
		t.Error("the snapshot version did not change")
	}
}
