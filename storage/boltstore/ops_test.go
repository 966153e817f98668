package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
)

func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "signet.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// A database from a newer Signet is refused, and left as it was.
	if err := boltstore.SetSchemaVersionForTest(path, boltstore.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	_, err = boltstore.Open(path, boltstore.Options{})
	if !errors.Is(err, boltstore.ErrSchemaTooNew) || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d", boltstore.SchemaVersion+1)) {
		t.Fatalf("Open of a newer schema: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("refused database was changed")
	}
	if _, _, err := boltstore.Compact(path, boltstore.Options{}); !errors.Is(err, boltstore.ErrSchemaTooNew) {
		t.Errorf("Compact of a newer schema: %v", err)
	}

	// An older one (0: before versioning) is upgraded in place.
	if err := boltstore.SetSchemaVersionForTest(path, 0); err != nil {
		t.Fatal(err)
	}
	s, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("Open of an older schema: %v", err)
	}
	s.Close()
	if err := boltstore.SetSchemaVersionForTest(path, boltstore.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if err := boltstore.SetSchemaVersionForTest(path, boltstore.SchemaVersion); err != nil {
		t.Fatal(err)
	}
	if s, err = boltstore.Open(path, boltstore.Options{}); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	s.Close()
}

func TestCompactStatsPing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "signet.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var writes int
	s.SetWriteObserver(func(time.Duration) { writes++ })
	now := time.Now()
	// Fill the file, then free it: compacting gives the pages back.
	for i := range 200 {
		c := &storage.Client{ID: "c" + strings.Repeat("x", i), Name: strings.Repeat("n", 2000), RedirectURIs: []string{"https://rp.example/cb"}}
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		if err := s.DeleteClient(ctx, "c"+strings.Repeat("x", i)); err != nil {
			t.Fatal(err)
		}
	}
	if writes != 400 {
		t.Errorf("write observer saw %d writes, want 400", writes)
	}
	if err := s.EnqueueLogouts(ctx, []*storage.LogoutDelivery{{ID: "l1", ClientID: "c", NextAttempt: now, ExpiresAt: now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil || st.LogoutQueue != 1 || st.Size <= 0 {
		t.Errorf("Stats = %+v, %v; want one queued logout and a size", st, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if _, _, err := boltstore.Compact(path, boltstore.Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, boltstore.ErrLocked) {
		t.Errorf("Compact of an open database: %v, want ErrLocked", err)
	}
	s.Close()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping of a closed store succeeded")
	}
	before, after, err := boltstore.Compact(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if after >= before {
		t.Errorf("compact: %d bytes -> %d, want smaller", before, after)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("compacted file mode %v", fi.Mode().Perm())
	}
	s, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ds, err := s.DueLogouts(ctx, now.Add(time.Minute), 10); err != nil || len(ds) != 1 {
		t.Errorf("after compact: %d due logouts, %v", len(ds), err)
	}
}
