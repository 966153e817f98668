package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// fill sets every field of the struct v points to a non-zero value that
// differs per field, so that a field added later and left out of the codec
// fails the round trip below.
func fill(t *testing.T, v any) {
	t.Helper()
	s := reflect.ValueOf(v).Elem()
	zone := time.FixedZone("", 2*3600)
	for i := range s.NumField() {
		f, name := s.Field(i), s.Type().Field(i).Name
		switch {
		case f.Kind() == reflect.String:
			f.SetString("v-" + name)
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Int64:
			f.SetInt(-int64(i) - 300)
		case f.Type() == reflect.TypeOf([]string(nil)):
			f.Set(reflect.ValueOf([]string{"a-" + name, "", "b"}))
		case f.Type() == reflect.TypeOf([]byte(nil)):
			f.Set(reflect.ValueOf([]byte{0, byte(i), 255}))
		case f.Type() == reflect.TypeOf(time.Time{}):
			f.Set(reflect.ValueOf(time.Date(2026, 12, 7, 4, i, 5, 123456789, zone)))
		default:
			t.Fatalf("field %s of type %s: teach the codec (codec.go) and this test about it", name, f.Type())
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	rt := &storage.RefreshToken{}
	fill(t, rt)
	got, err := decodeRefreshToken(encodeRefreshToken(rt))
	if err != nil || !reflect.DeepEqual(got, rt) {
		t.Fatalf("refresh token round trip:\n got %+v, %v\nwant %+v", got, err, rt)
	}
	f := &storage.RefreshFamily{}
	fill(t, f)
	gotF, err := decodeFamily(encodeFamily(f))
	if err != nil || !reflect.DeepEqual(gotF, f) {
		t.Fatalf("family round trip:\n got %+v, %v\nwant %+v", gotF, err, f)
	}

	a := &storage.AuthRequest{}
	fill(t, a)
	gotA, err := decodeAuthRequest(encodeAuthRequest(a))
	if err != nil || !reflect.DeepEqual(gotA, a) {
		t.Fatalf("auth request round trip:\n got %+v, %v\nwant %+v", gotA, err, a)
	}
	for _, a := range []*storage.AuthRequest{{}, {CodeHash: []byte{}, Prompt: []string{}}, {Done: true}, {CodeUsed: true}, {MaxAge: -1}} {
		if got, err := decodeAuthRequest(encodeAuthRequest(a)); err != nil || !reflect.DeepEqual(got, a) {
			t.Errorf("round trip of %+v = %+v, %v", a, got, err)
		}
	}
	data := encodeAuthRequest(a)
	for n := 1; n < len(data); n++ {
		if _, err := decodeAuthRequest(data[:n]); err == nil {
			t.Fatalf("an auth request cut to %d of %d bytes decoded", n, len(data))
		}
	}

	// Zero values, and nil kept apart from empty, as JSON keeps them.
	for _, rt := range []*storage.RefreshToken{{}, {Scopes: []string{}}, {IssuedAt: time.Unix(1, 0).UTC()}} {
		if got, err := decodeRefreshToken(encodeRefreshToken(rt)); err != nil || !reflect.DeepEqual(got, rt) {
			t.Errorf("round trip of %+v = %+v, %v", rt, got, err)
		}
	}
	for _, f := range []*storage.RefreshFamily{{}, {AMR: []string{}}, {Revoked: true}, {Offline: true}} {
		if got, err := decodeFamily(encodeFamily(f)); err != nil || !reflect.DeepEqual(got, f) {
			t.Errorf("round trip of %+v = %+v, %v", f, got, err)
		}
	}

	// A damaged record is an error, never a record with fields missing.
	data = encodeFamily(f)
	for n := 1; n < len(data); n++ {
		if _, err := decodeFamily(data[:n]); err == nil {
			t.Fatalf("a family cut to %d of %d bytes decoded", n, len(data))
		}
	}
	if _, err := decodeFamily(append(data, 0)); err == nil {
		t.Fatal("a family with a trailing byte decoded")
	}
	data = encodeRefreshToken(rt)
	for n := 1; n < len(data); n++ {
		if _, err := decodeRefreshToken(data[:n]); err == nil {
			t.Fatalf("a refresh token cut to %d of %d bytes decoded", n, len(data))
		}
	}
}

// Records written as JSON by schema 1 are still read, rotated and revoked.
func TestCodecReadsJSONRecords(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t)
	now := time.Now().UTC().Truncate(time.Second)
	fam := &storage.RefreshFamily{ID: "fam", ClientID: "app", UserID: "u", Scopes: []string{"openid"},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	old := &storage.RefreshToken{Hash: "old", FamilyID: "fam", ClientID: "app", UserID: "u", Scopes: []string{"openid"},
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	// As schema 1 wrote them.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := put(tx, bucketFamilies, fam.ID, fam); err != nil {
			return err
		}
		if err := put(tx, bucketRefreshTokens, old.Hash, old); err != nil {
			return err
		}
		return tx.Bucket(bucketFamilyMembers).Put(memberKey(fam.ID, kindRefreshToken, old.Hash), emptyValue)
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetRefreshToken(ctx, "old"); err != nil || !reflect.DeepEqual(got, old) {
		t.Fatalf("GetRefreshToken of a JSON record = %+v, %v", got, err)
	}
	if got, err := s.GetRefreshFamily(ctx, "fam"); err != nil || !reflect.DeepEqual(got, fam) {
		t.Fatalf("GetRefreshFamily of a JSON record = %+v, %v", got, err)
	}
	next := &storage.RefreshToken{Hash: "next", ClientID: "app", UserID: "u", Scopes: []string{"openid"},
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if _, err := s.RotateRefreshToken(ctx, storage.Rotation{OldHash: "old", Now: now, Next: next}); err != nil {
		t.Fatalf("rotate a JSON record: %v", err)
	}
	// The rotated token is now binary and still knows it was rotated: a second
	// presentation is a reuse, which revokes the family.
	s.db.View(func(tx *bolt.Tx) error {
		if data := tx.Bucket(bucketRefreshTokens).Get([]byte("old")); data[0] != binaryV1 {
			t.Errorf("rotated token rewritten as %q, want the binary form", data[:1])
		}
		return nil
	})
	again := &storage.RefreshToken{Hash: "again", ClientID: "app", UserID: "u", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if _, err := s.RotateRefreshToken(ctx, storage.Rotation{OldHash: "old", Now: now, Next: again}); !errors.Is(err, storage.ErrReused) {
		t.Fatalf("second presentation: %v, want ErrReused", err)
	}
	if got, err := s.GetRefreshFamily(ctx, "fam"); err != nil || !got.Revoked {
		t.Fatalf("family after reuse = %+v, %v; want revoked", got, err)
	}
	// The export for signet storage import reads both forms.
	s.db.Update(func(tx *bolt.Tx) error {
		return put(tx, bucketFamilies, "fam-json", &storage.RefreshFamily{ID: "fam-json", ClientID: "app"})
	})
	d, err := s.Export(ctx)
	if err != nil {
		t.Fatalf("Export of binary and JSON records: %v", err)
	}
	var hashes, families []string
	for _, rt := range d.RefreshTokens {
		hashes = append(hashes, rt.Hash)
	}
	for _, f := range d.Families {
		families = append(families, f.ID+fmt.Sprint(f.Revoked))
	}
	if !reflect.DeepEqual(hashes, []string{"next", "old"}) || !reflect.DeepEqual(families, []string{"famtrue", "fam-jsonfalse"}) {
		t.Fatalf("exported refresh tokens %v, families %v", hashes, families)
	}
}

// An auth request written as JSON by schema 1 (a sign-in in flight across the
// upgrade) is still found by its code and redeemed once.
func TestCodecRedeemsJSONAuthRequest(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t)
	now := time.Now().UTC().Truncate(time.Second)
	a := &storage.AuthRequest{ID: "req", ClientID: "app", RedirectURI: "https://a.example/cb", Scopes: []string{"openid"},
		CreatedAt: now, ExpiresAt: now.Add(time.Minute), Done: true, UserID: "u", AuthTime: now,
		CodeHash: []byte("code-hash"), CodeExpiresAt: now.Add(time.Minute)}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := put(tx, bucketAuthRequests, a.ID, a); err != nil {
			return err
		}
		return putCode(tx, a.CodeHash, a.ID)
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetAuthRequestByCode(ctx, a.CodeHash); err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("GetAuthRequestByCode of a JSON record = %+v, %v", got, err)
	}
	at := &storage.AccessToken{ID: "at", JWT: true, ClientID: "app", UserID: "u", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.RedeemCode(ctx, a.CodeHash, at, nil, nil); err != nil {
		t.Fatalf("redeem a JSON auth request: %v", err)
	}
	if err := s.RedeemCode(ctx, a.CodeHash, &storage.AccessToken{ID: "at2", JWT: true, ClientID: "app", UserID: "u"}, nil, nil); !errors.Is(err, storage.ErrReused) {
		t.Fatalf("second redemption: %v, want ErrReused", err)
	}
	if got, err := s.GetAuthRequestByCode(ctx, a.CodeHash); err != nil || !got.CodeUsed || got.IssuedAccessTokenID != "at" {
		t.Fatalf("auth request after redemption = %+v, %v", got, err)
	}
}

// TestEmptyRecordIsAnError: a key whose value is empty (a damaged file) is
// answered with an error by every reader of the binary records, never a panic.
func TestEmptyRecordIsAnError(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "signet.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, b := range [][]byte{bucketRefreshTokens, bucketFamilies, bucketAuthRequests} {
		if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(b).Put([]byte("empty"), []byte{}) }); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if _, err := s.GetRefreshToken(ctx, "empty"); err == nil {
		t.Error("GetRefreshToken of an empty record: no error")
	}
	if _, err := s.GetRefreshFamily(ctx, "empty"); err == nil {
		t.Error("GetRefreshFamily of an empty record: no error")
	}
	if _, err := s.GetAuthRequest(ctx, "empty"); err == nil {
		t.Error("GetAuthRequest of an empty record: no error")
	}
}
