package boltstore

import (
	"context"
	"errors"
	"testing"

	"github.com/signet-idp/signet/storage"
)

func TestClientCache(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t)
	if err := s.CreateClient(ctx, &storage.Client{ID: "app", Name: "App", RedirectURIs: []string{"https://a.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	c, err := s.GetClient(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if cached, _ := s.clients.get("app"); cached == nil {
		t.Fatal("GetClient did not cache the client")
	}
	// What a caller does with its copy stays with it.
	c.Name = "changed"
	c.RedirectURIs[0] = "https://evil.example/cb"
	if c, err = s.GetClient(ctx, "app"); err != nil || c.Name != "App" || c.RedirectURIs[0] != "https://a.example/cb" {
		t.Fatalf("GetClient after the caller changed its copy = %+v, %v", c, err)
	}
	// An update is seen by the next read at once.
	if _, err := s.UpdateClient(ctx, "app", func(c *storage.Client) error {
		c.RedirectURIs = []string{"https://b.example/cb"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if c, err = s.GetClient(ctx, "app"); err != nil || c.RedirectURIs[0] != "https://b.example/cb" {
		t.Fatalf("GetClient after UpdateClient = %+v, %v", c, err)
	}
	// So is a removal, and an unknown client is not cached.
	if err := s.DeleteClient(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetClient(ctx, "app"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetClient after DeleteClient: %v, want ErrNotFound", err)
	}
	if len(s.clients.m) != 0 {
		t.Fatalf("cache holds %d clients after the only one was removed", len(s.clients.m))
	}
	// A cancelled context is refused even when the client is cached.
	if err := s.CreateClient(ctx, &storage.Client{ID: "app2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetClient(ctx, "app2"); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.GetClient(cctx, "app2"); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetClient with a cancelled context: %v", err)
	}
}

// A read that began before a change committed must not put the old record
// back after the change emptied the cache.
func TestClientCacheStaleReadNotKept(t *testing.T) {
	var c clientCache
	_, gen := c.get("app") // a reader starts...
	c.invalidate()         // ...a client changes and commits...
	c.add(gen, &storage.Client{ID: "app", Name: "old"})
	if v, _ := c.get("app"); v != nil {
		t.Fatalf("a read older than the change was cached: %+v", v)
	}
	_, gen = c.get("app")
	c.add(gen, &storage.Client{ID: "app", Name: "new"})
	if v, _ := c.get("app"); v == nil || v.Name != "new" {
		t.Fatalf("cached %+v, want the new record", v)
	}
}
