package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
	"github.com/signet-idp/signet/storage/storagetest"
)

func openTemp(t *testing.T) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "signet.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// TestConformance runs the suite; after each subtest it lets everything expire and
// checks that no record, index or expiry entry is left but the ones that never
// expire.
func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s := openTemp(t)
		t.Cleanup(func() { checkNoLeftovers(t, s) })
		return s
	})
}

func checkNoLeftovers(t *testing.T, s *boltstore.Store) {
	t.Helper()
	if t.Failed() {
		return
	}
	ctx := context.Background()
	end := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	for {
		n, err := s.DeleteExpired(ctx, end, 1000)
		if err != nil {
			t.Fatalf("DeleteExpired at the end of time: %v", err)
		}
		if n < 1000 {
			break
		}
	}
	left, err := s.LeftoverKeys()
	if err != nil {
		t.Fatal(err)
	}
	for _, kept := range []string{"clients", "users", "usernames", "emails", "groups", "apis", "signing_keys", "grants", "meta"} {
		delete(left, kept)
	}
	if len(left) > 0 {
		t.Errorf("keys left after everything expired: %v", left)
	}
}

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	start := time.Now()
	second, err := boltstore.Open(s.Path(), boltstore.Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		second.Close()
		t.Fatal("second Open of a held database succeeded")
	}
	t.Logf("second Open: %v", err)
	if !errors.Is(err, boltstore.ErrLocked) {
		t.Errorf("second Open: got %v, want ErrLocked", err)
	}
	for _, want := range []string{s.Path(), "another process", "signet serve"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("second Open took %s with a 100ms timeout", waited)
	}

	// Once the first store closes, the file opens again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := boltstore.Open(s.Path(), boltstore.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	third.Close()
}

func TestFileMode(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	info, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode = %o, want 600", mode)
	}
}

func TestBackup(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	client := &storage.Client{ID: "app", Name: "App", RedirectURIs: []string{"https://app.example/cb"}}
	if err := s.CreateClient(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, &storage.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	n, err := s.Backup(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) || n == 0 {
		t.Errorf("Backup reported %d bytes and wrote %d", n, buf.Len())
	}
	// The server keeps working while and after the backup is taken.
	if err := s.CreateClient(ctx, &storage.Client{ID: "later"}); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	restored, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("Open of the backup: %v", err)
	}
	defer restored.Close()
	got, err := restored.GetClient(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "App" || len(got.RedirectURIs) != 1 {
		t.Errorf("client in the backup = %+v", got)
	}
	if _, err := restored.GetUserByUsername(ctx, "alice"); err != nil {
		t.Errorf("user in the backup: %v", err)
	}
	if _, err := restored.GetClient(ctx, "later"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("client created after the backup: got %v, want ErrNotFound", err)
	}
}

// TestEmailIndexBuiltForOldDatabase: a database written before the email index
// gets one at Open, so people are found by email at once.
func TestEmailIndexBuiltForOldDatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "signet.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreateUser(ctx, &storage.User{ID: "u1", Username: "alice", Email: "Alice@Example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DropBucketForTest("emails"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.GetUserByEmail(ctx, "alice@example.org")
	if err != nil || u.ID != "u1" {
		t.Fatalf("after reopening: %v %v", u, err)
	}
}
