package account

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
)

// failingQueue is a store whose logout queue refuses writes.
type failingQueue struct{ storage.Store }

func (failingQueue) EnqueueLogouts(context.Context, []*storage.LogoutDelivery) error {
	return errors.New("disk full")
}

// TestEndSessionRetryableUntilNoticesQueued: a logout that cannot queue its
// back-channel notices fails before the session is gone, so trying again
// (the person's retry, or the admin's) still finds the session and tells the
// apps; the retry then ends it.
func TestEndSessionRetryableUntilNoticesQueued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "signet.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now().UTC()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(store.CreateClient(ctx, &storage.Client{ID: "app", Name: "App", RedirectURIs: []string{"https://app.example/cb"},
		BackchannelLogoutURI: "https://app.example/logout", CreatedAt: now}))
	sess := &storage.Session{ID: "session-key", SID: "sid-1", UserID: "u1", AuthTime: now, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour)}
	must(store.CreateSession(ctx, sess))
	must(store.AddSessionClient(ctx, "sid-1", "app", now.Add(time.Hour)))

	if _, err := EndSession(ctx, failingQueue{store}, nil, sess, now); err == nil {
		t.Fatal("EndSession succeeded although the notices could not be queued")
	}
	if _, err := store.GetSession(ctx, sess.ID); err != nil {
		t.Fatalf("the session is gone after a failed logout, so it cannot be retried: %v", err)
	}
	n, err := EndSession(ctx, store, nil, sess, now)
	if err != nil || n != 1 {
		t.Fatalf("retry: %d notices, %v; want 1, nil", n, err)
	}
	if _, err := store.GetSession(ctx, sess.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("session after the retry: %v, want ErrNotFound", err)
	}
	due, err := store.DueLogouts(ctx, now.Add(time.Second), 10)
	must(err)
	if len(due) != 1 || due[0].ClientID != "app" || due[0].SID != "sid-1" {
		t.Fatalf("queued notices: %+v", due)
	}
}
