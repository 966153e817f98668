package boltstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
)

// TestExportReadOnly: a file opened read-only is exported as it is, used
// client assertion ids included, and left byte for byte unchanged, even when
// it is older than this version (no schema version written, no bucket
// created); a running server still keeps the read-only opener out.
func TestExportReadOnly(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "signet.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).UTC()
	must(t, s.CreateClient(ctx, &storage.Client{ID: "app"}))
	must(t, s.UseAssertionJTI(ctx, "app", "jti-1", exp))
	if ro, err := boltstore.Open(path, boltstore.Options{Timeout: 100 * time.Millisecond, ReadOnly: true}); !errors.Is(err, boltstore.ErrLocked) {
		if err == nil {
			ro.Close()
		}
		t.Fatalf("read-only Open of a file a server holds: %v, want ErrLocked", err)
	}
	// An older file: without the apis bucket and with schema version 0.
	must(t, s.DropBucketForTest("apis"))
	must(t, s.Close())
	must(t, boltstore.SetSchemaVersionForTest(path, 0))
	before, err := os.ReadFile(path)
	must(t, err)

	ro, err := boltstore.Open(path, boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	d, err := ro.Export(ctx)
	if err != nil {
		t.Fatalf("Export of the read-only store: %v", err)
	}
	if len(d.Clients) != 1 || d.Clients[0].ID != "app" || len(d.APIs) != 0 {
		t.Errorf("exported clients %v, APIs %v", d.Clients, d.APIs)
	}
	if len(d.AssertionJTIs) != 1 || d.AssertionJTIs[0].ClientID != "app" || d.AssertionJTIs[0].JTI != "jti-1" ||
		!d.AssertionJTIs[0].ExpiresAt.Equal(exp) {
		t.Errorf("exported used assertions %+v, want app/jti-1 until %s", d.AssertionJTIs, exp)
	}
	if err := ro.CreateClient(ctx, &storage.Client{ID: "other"}); err == nil {
		t.Error("a write to the read-only store succeeded")
	}
	must(t, ro.Close())
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("opening read-only and exporting changed the file")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
